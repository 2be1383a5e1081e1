/**
 * Small helpers every backend needs, written once: batching, bounded concurrency, an LRU map and
 * warnings shown once per process.
 */
import { tagMessage } from "./errors.js";

/** `items` in consecutive slices of at most `size` (the last may be shorter). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * `fn` over every item with at most `limit` calls in flight, results in the items' order. The
 * first failure rejects once the calls already started have settled, and no new call starts after
 * it: a bulk operation stops early instead of hammering a server that is failing.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (rejected) throw rejected.reason;
  return results;
}

/** A Map that keeps at most `capacity` entries, dropping the least recently used one. */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number) {}

  /** The value of `key` (marking it recently used), or undefined. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    // A Map keeps insertion order: re-inserting moves the entry to the most recent end.
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Stores `value` as the most recently used entry; a capacity of 0 stores nothing. */
  set(key: K, value: V): void {
    if (this.capacity <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      this.entries.delete(this.entries.keys().next().value as K);
    }
  }

  /** Forgets `key`. */
  delete(key: K): void {
    this.entries.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.entries.clear();
  }

  /** How many entries are kept. */
  get size(): number {
    return this.entries.size;
  }
}

const emitted = new Set<string>();

/**
 * The default warning sink of every backend: `process.emitWarning(message, "ResultStoreWarning")`
 * the first time this process sees `message`, quiet after (many stores with one setting that
 * deserves a warning deserve one warning).
 */
export function emitWarningOnce(message: string): void {
  if (emitted.has(message)) return;
  emitted.add(message);
  process.emitWarning(message, "ResultStoreWarning");
}

/** Sends a warning of one `kind` once; the message is tagged `[resultstore] [backend]`. */
export type WarnOnce = (kind: string, message: string) => void;

/**
 * A store's warnings: each `kind` reaches `sink` (the user's `warn` option, or
 * {@link emitWarningOnce}) once per store, tagged with the backend's name.
 */
export function warnOnce(
  backend: string,
  sink: (message: string) => void = emitWarningOnce,
): WarnOnce {
  const sent = new Set<string>();
  return (kind, message) => {
    if (sent.has(kind)) return;
    sent.add(kind);
    sink(tagMessage(backend, message));
  };
}
