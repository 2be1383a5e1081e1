/**
 * The last version of each task record this process saw (its ETag and its fields minus the
 * result), so a write that follows our own read or write skips the read: one conditional request.
 * It is only a guess: the ETag condition makes a stale entry cost a 412 and a re-read, never a
 * wrong write.
 */
import type { TaskRecord } from "@resultstore/core";

export interface KnownVersion {
  etag: string;
  /** The stored record without its result (writes always replace the result). */
  record: TaskRecord;
}

/** A small LRU: a Map keeps insertion order, so re-inserting on use moves an entry to the end. */
export class EtagCache {
  private readonly entries = new Map<string, KnownVersion>();

  constructor(private readonly capacity: number) {}

  get(key: string): KnownVersion | undefined {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, etag: string | undefined, record: TaskRecord): void {
    if (this.capacity === 0 || !etag) return;
    this.entries.delete(key);
    this.entries.set(key, { etag, record: { ...record, result: null } });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
