/** Living with contention: lost lightweight-transaction races are retried with jitter. */

/** Attempts of one write or increment against other processes before giving up. */
export const MAX_ATTEMPTS = 50;

/** Full jitter up to 100 ms, so retrying writers spread out instead of colliding again. */
export const backoff = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** attempt)));

/** Runs tasks one at a time per key, so this process never races itself through Paxos. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
