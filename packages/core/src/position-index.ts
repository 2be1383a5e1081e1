/**
 * memory://'s index for `find`: every task's position (effective time, task id) in one array kept
 * sorted oldest first, so a page is a binary search and a walk, also over a million records.
 *
 * Writes stamp the current time, so a new position almost always lands at the end: inserting by
 * binary search moves few entries. A record that moves leaves its old entry behind instead of
 * paying to remove it from the middle: each entry carries the sequence number of the write that
 * made it, and only the record's current number is live. Dead entries are dropped in one pass
 * once they outnumber the live ones, so the array stays at most about twice the record count.
 */
import { compareTaskIds } from "./find.js";

/** One position: `time` is the effective time in ms, -Infinity for a record without one. */
export interface IndexEntry<R> {
  time: number;
  taskId: string;
  /** The write that put it here; live while it is the record's current `seq`. */
  seq: number;
  /**
   * The stored record, its current version while the entry is live (`place` keeps it so): a
   * walk reads a record's fields through it, without looking the id up. A dead entry keeps the
   * version it was made for.
   */
  record: R;
}

/** The entries, sorted by (time, task id), with dead ones among them. */
export class PositionIndex<R> {
  private entries: IndexEntry<R>[] = [];
  private dead = 0;
  private nextSeq = 1;

  /** `isLive`: whether an entry is its record's current one; `liveCount`: how many records there are. */
  constructor(
    private readonly isLive: (entry: IndexEntry<R>) => boolean,
    private readonly liveCount: () => number,
  ) {}

  /**
   * Records that `taskId`'s new version `record` now stands at `time`; returns the `seq` to keep
   * with the record. The entry of `previous` (the record's former seq and time) stays live when
   * the time is unchanged, and then points at `record`.
   */
  place(taskId: string, time: number, record: R, previous?: { seq: number; time: number }): number {
    if (previous && previous.time === time) {
      for (let i = this.lowerBound(time, taskId); i < this.entries.length; i++) {
        const entry = this.entries[i] as IndexEntry<R>;
        if (entry.seq === previous.seq) {
          entry.record = record;
          break;
        }
      }
      return previous.seq;
    }
    if (previous) this.died();
    const entry = { time, taskId, seq: this.nextSeq++, record };
    this.entries.splice(this.upperBound(time, taskId), 0, entry);
    return entry.seq;
  }

  /** A record's entry died (the record was removed), or moved (`place` calls it). */
  died(): void {
    this.dead++;
    if (this.dead > this.liveCount() + 1024) {
      this.entries = this.entries.filter(this.isLive);
      this.dead = 0;
    }
  }

  clear(): void {
    this.entries = [];
    this.dead = 0;
  }

  /**
   * The entry at index `i` (dead entries included, for the caller to skip), undefined past either
   * end. A walk is a loop over `i`: a generator allocated one result object per entry, the most
   * of a 1M-record find's garbage. Nothing may be placed while a walk is under way.
   */
  at(i: number): IndexEntry<R> | undefined {
    return this.entries[i];
  }

  /** Index of the first entry after (time, taskId); `entries.length` when none is. */
  upperBound(time: number, taskId: string): number {
    return this.search((entry) => compare(entry, time, taskId) <= 0);
  }

  /** Index of the first entry at or after (time, taskId). */
  lowerBound(time: number, taskId: string): number {
    return this.search((entry) => compare(entry, time, taskId) < 0);
  }

  /** Index of the first entry with a time at or after `time` (any task id). */
  firstAtOrAfter(time: number): number {
    return this.search((entry) => entry.time < time);
  }

  /** Index of the first entry with a time after `time` (any task id). */
  firstAfter(time: number): number {
    return this.search((entry) => entry.time <= time);
  }

  /** The first index whose entry is not `before` (entries are sorted, so `before` holds on a prefix). */
  private search(before: (entry: IndexEntry<R>) => boolean): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (before(this.entries[mid] as IndexEntry<R>)) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

function compare(entry: IndexEntry<unknown>, time: number, taskId: string): number {
  if (entry.time !== time) return entry.time < time ? -1 : 1;
  return compareTaskIds(entry.taskId, taskId);
}
