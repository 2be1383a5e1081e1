/**
 * The last version of each task record this process saw (the database's version token — an
 * ETag, a seq_no/primary_term pair, a ModifyIndex — and the fields minus the result), so a write
 * that follows our own read or write can skip the read: one conditional request. It is only a
 * guess: the backend's version condition makes a stale entry cost a failed request and a re-read,
 * never a wrong write.
 *
 * The cache shares nothing with its callers: `set` keeps a deep copy of the record and `get` hands
 * out a deep copy, so a caller's later change to a record it read or to a value it passed in a
 * write (nested metadata, args, kwargs, children) never reaches the next write. A deep copy of the
 * small structured fields costs a few microseconds; keeping them as encoded JSON cost about four
 * times as much (measured on a typical record: ~6 µs against ~22 µs per set and get).
 */
import { EncodeError } from "./errors.js";
import { LruMap } from "./toolkit.js";
import type { TaskRecord } from "./types.js";

/**
 * A deep copy of a value the codec can encode: plain objects and arrays are copied, `Date` and
 * bytes too (both are mutable); an object with `toJSON` is replaced by a copy of what it encodes
 * as (the codec writes the same text for both). Anything else (the immutable Python stand-ins,
 * scalars) is kept as it is. A circular value is an `EncodeError`, as the codec would answer.
 */
export function copyValue<T>(value: T): T {
  return copyWithin(value, []) as T;
}

function copyWithin(value: unknown, ancestors: object[]): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (ancestors.includes(value)) throw new EncodeError("Circular reference in a value to store.");
  ancestors.push(value);
  try {
    if (Array.isArray(value)) return value.map((item) => copyWithin(item, ancestors));
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      const copy: Record<string, unknown> = proto === null ? Object.create(null) : {};
      for (const key of Object.keys(value))
        copy[key] = copyWithin((value as Record<string, unknown>)[key], ancestors);
      return copy;
    }
    if (value instanceof Date) return new Date(value.getTime());
    if (value instanceof Uint8Array) return Buffer.from(value);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return copyWithin(toJSON.call(value), ancestors);
    return value;
  } finally {
    ancestors.pop();
  }
}

/** `record` without its result, sharing no object with it. */
function copyRecord(record: TaskRecord): TaskRecord {
  return {
    ...record,
    result: null,
    children: copyValue(record.children),
    dateDone: copyValue(record.dateDone),
    updatedAt: copyValue(record.updatedAt),
    args: copyValue(record.args),
    kwargs: copyValue(record.kwargs),
    metadata: copyValue(record.metadata),
    expiresAt: copyValue(record.expiresAt),
  };
}

/** A remembered version of one task record. */
export interface KnownVersion<V> {
  version: V;
  /** The stored record without its result (writes always replace the result). */
  record: TaskRecord;
}

/** The last version seen of each recently used record (an LRU of `capacity` entries). */
export class VersionCache<V> {
  private readonly entries: LruMap<string, KnownVersion<V>>;

  constructor(capacity: number) {
    this.entries = new LruMap(capacity);
  }

  /**
   * The remembered version of `key` (and marks it recently used), or undefined. The record is a
   * copy: changing it changes nothing here.
   */
  get(key: string): KnownVersion<V> | undefined {
    const entry = this.entries.get(key);
    return entry && { version: entry.version, record: copyRecord(entry.record) };
  }

  /**
   * Remembers `version` for `key` with a deep copy of `record` (its result left out); a missing
   * version forgets nothing and remembers nothing.
   */
  set(key: string, version: V | undefined | null, record: TaskRecord): void {
    if (this.entries.capacity === 0 || version === undefined || version === null) return;
    this.entries.set(key, { version, record: copyRecord(record) });
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
