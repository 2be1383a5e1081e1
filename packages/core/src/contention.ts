/**
 * Living with concurrent writers: the compare-and-swap retry loop every guarded backend runs, and
 * the batching of same-key increments within one process.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ContentionError } from "./errors.js";
import { backoffMs, type RetryPolicy } from "./retry.js";

/** What one attempt returns when another writer changed the record between its read and write. */
export const LOST_RACE: unique symbol = Symbol("lost race");
/** The type of {@link LOST_RACE}. */
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

/** One caller waiting in a {@link KeyedBatches} queue. */
interface Waiter<I, R> {
  item: I;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Per-key queues where concurrent calls on one key share rounds: while a round of a key runs,
 * later calls queue, and the next round takes them all. `run` does one round and hands each
 * caller its own answer.
 */
class KeyedBatches<I, R> {
  /** Calls waiting for the next round, per key; a key is present while a round runs. */
  private readonly queued = new Map<string, Waiter<I, R>[]>();

  constructor(private readonly run: (key: string, items: I[]) => Promise<R[]>) {}

  call(key: string, item: I): Promise<R> {
    return new Promise((resolve, reject) => {
      const waiter = { item, resolve, reject };
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
      try {
        const answers = await this.run(
          key,
          batch.map((waiter) => waiter.item),
        );
        for (const [i, waiter] of batch.entries()) waiter.resolve(answers[i] as R);
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
    }
  }
}

/** Adds `total` to counter `key` atomically on the server; the new value. */
export type AddToCounter = (key: string, total: number, expiresAt: Date | null) => Promise<number>;

/**
 * Coalesces concurrent increments of one counter within this process. While an increment of a key
 * is in flight, later calls queue; the next round adds their sum in ONE server-side step and hands
 * each caller the value a one-at-a-time run would have given it. Exact, and N same-key callers
 * cost one round per batch instead of N-way contention with ourselves. Other processes still meet
 * us through the backend's own guard. The expiry is the last caller's, as it is when the
 * increments run one after another.
 */
export class IncrementBatcher {
  private readonly batches: KeyedBatches<{ by: number; expiresAt: Date | null }, number>;

  constructor(add: AddToCounter) {
    this.batches = new KeyedBatches(async (key, items) => {
      const total = items.reduce((sum, item) => sum + item.by, 0);
      const expiresAt = (items[items.length - 1] as { expiresAt: Date | null }).expiresAt;
      let value = (await add(key, total, expiresAt)) - total;
      return items.map((item) => {
        value += item.by;
        return value;
      });
    });
  }

  /** Adds `by` to `key` (batched with concurrent callers); the value this caller's increment made. */
  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.batches.call(key, { by, expiresAt });
  }
}

/** Adds `members` to set `key` atomically on the server; the set's size after the add. */
export type AddMembers = (
  key: string,
  members: string[],
  expiresAt: Date | null,
) => Promise<number>;

/**
 * Coalesces concurrent `addToSet` calls on one key within this process, for backends that add with
 * a compare-and-swap round (read, union, guarded write): while a round runs, later adds queue, and
 * the next round adds them all in one write. Without it, N same-key adds (a chord's members
 * finishing together) race each other for up to N rounds. Each caller gets the size after its
 * round (read no earlier than its add landed); the expiry is the last caller's.
 */
export class SetAddBatcher {
  private readonly batches: KeyedBatches<{ member: string; expiresAt: Date | null }, number>;

  constructor(add: AddMembers) {
    this.batches = new KeyedBatches(async (key, items) => {
      const expiresAt = (items[items.length - 1] as { expiresAt: Date | null }).expiresAt;
      const size = await add(
        key,
        items.map((item) => item.member),
        expiresAt,
      );
      return items.map(() => size);
    });
  }

  /** Adds `member` to `key` (batched with concurrent callers); the set's size after its round. */
  add(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.batches.call(key, { member, expiresAt });
  }
}
