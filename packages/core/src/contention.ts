/**
 * Living with concurrent writers: the compare-and-swap retry loop every guarded backend runs, and
 * the batching of same-key increments within one process.
 */
import { ContentionError } from "./errors.js";
import { backoffMs, type RetryPolicy } from "./retry.js";

/** What one attempt returns when another writer changed the record between its read and write. */
export const LOST_RACE: unique symbol = Symbol("lost race");
export type LostRace = typeof LOST_RACE;

/** Rounds a write or increment may lose before giving up; each lost round is another writer's win. */
export const CONFLICT_ATTEMPTS = 64;
/** Full jitter between rounds, up to 100 ms, so retrying writers spread out. */
const CONFLICT_BACKOFF: RetryPolicy = { maxRetries: CONFLICT_ATTEMPTS, baseMs: 2, maxMs: 100 };

/**
 * Runs `attempt` (0, 1, …) until it returns something other than `LOST_RACE`, pausing with core's
 * backoff between rounds; after `maxAttempts` lost rounds, a retryable `ContentionError`.
 */
export async function retryLostRaces<T>(
  backend: string,
  what: string,
  attempt: (round: number) => Promise<T | LostRace>,
  maxAttempts = CONFLICT_ATTEMPTS,
): Promise<T> {
  for (let round = 0; round < maxAttempts; round++) {
    if (round > 0) await sleep(backoffMs(round - 1, CONFLICT_BACKOFF));
    const outcome = await attempt(round);
    if (outcome !== LOST_RACE) return outcome;
  }
  throw new ContentionError(backend, what, maxAttempts);
}

/** Adds `total` to counter `key` atomically on the server; the new value. */
export type AddToCounter = (key: string, total: number, expiresAt: Date | null) => Promise<number>;

interface Waiter {
  by: number;
  expiresAt: Date | null;
  resolve(value: number): void;
  reject(error: unknown): void;
}

/**
 * Coalesces concurrent increments of one counter within this process. While an increment of a key
 * is in flight, later calls queue; the next round adds their sum in ONE server-side step and hands
 * each caller the value a one-at-a-time run would have given it. Exact, and N same-key callers
 * cost one round per batch instead of N-way contention with ourselves. Other processes still meet
 * us through the backend's own guard. The expiry is the last caller's, as it is when the
 * increments run one after another.
 */
export class IncrementBatcher {
  /** Increments waiting for the next round, per key; a key is present while a round runs. */
  private readonly queued = new Map<string, Waiter[]>();

  constructor(private readonly add: AddToCounter) {}

  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return new Promise((resolve, reject) => {
      const waiter = { by, expiresAt, resolve, reject };
      const queue = this.queued.get(key);
      if (queue) {
        queue.push(waiter);
        return;
      }
      this.queued.set(key, [waiter]);
      void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    for (;;) {
      const batch = this.queued.get(key) ?? [];
      if (batch.length === 0) {
        this.queued.delete(key);
        return;
      }
      this.queued.set(key, []);
      const total = batch.reduce((sum, waiter) => sum + waiter.by, 0);
      const expiresAt = (batch[batch.length - 1] as Waiter).expiresAt;
      try {
        let value = (await this.add(key, total, expiresAt)) - total;
        for (const waiter of batch) {
          value += waiter.by;
          waiter.resolve(value);
        }
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
