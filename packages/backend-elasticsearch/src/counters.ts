/**
 * Coalesces concurrent increments of one counter within this process. While a compare-and-swap
 * for a key is in flight, later `incr` calls queue; the next round adds their sum in ONE guarded
 * write and hands each caller its own value from the range that write added (as if they had run
 * one after another). Exact, and it turns N same-key callers from N-way CAS contention (where an
 * unlucky caller can lose every round) into one round per batch. Other processes still meet us
 * through the server-side version guard.
 */

/** Adds `total` to counter `key` atomically on the server and returns the new value. */
export type AddToCounter = (key: string, total: number, expiresAt: Date | null) => Promise<number>;

interface Waiter {
  by: number;
  expiresAt: Date | null;
  resolve(value: number): void;
  reject(error: unknown): void;
}

export class CounterBatcher {
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
      // The newest expiry wins, as it would have with the writes one after another.
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
