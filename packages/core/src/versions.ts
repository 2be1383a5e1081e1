/**
 * The last version of each task record this process saw (the database's version token — an
 * ETag, a seq_no/primary_term pair, a ModifyIndex — and the fields minus the result), so a write
 * that follows our own read or write can skip the read: one conditional request. It is only a
 * guess: the backend's version condition makes a stale entry cost a failed request and a re-read,
 * never a wrong write.
 */
import type { TaskRecord } from "./types.js";

/** A remembered version of one task record. */
export interface KnownVersion<V> {
  version: V;
  /** The stored record without its result (writes always replace the result). */
  record: TaskRecord;
}

/** A small LRU: a Map keeps insertion order, so re-inserting on use moves an entry to the end. */
export class VersionCache<V> {
  private readonly entries = new Map<string, KnownVersion<V>>();

  constructor(private readonly capacity: number) {}

  /** The remembered version of `key` (and marks it recently used), or undefined. */
  get(key: string): KnownVersion<V> | undefined {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** Remembers `version` for `key`; a missing version forgets nothing and remembers nothing. */
  set(key: string, version: V | undefined | null, record: TaskRecord): void {
    if (this.capacity === 0 || version === undefined || version === null) return;
    this.entries.delete(key);
    this.entries.set(key, { version, record: { ...record, result: null } });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Forgets `key` (after a conflict, a delete or an expiry). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.entries.clear();
  }
}
