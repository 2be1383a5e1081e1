// Retries for transient failures: exponential backoff with full jitter (Celery's always_retry).
import { setTimeout as sleep } from "node:timers/promises";

/** How `alwaysRetry` backs off between attempts (exponential, full jitter). */
export interface RetryPolicy {
  /** Attempts after the first. @default 3 */
  maxRetries: number;
  /** First backoff ceiling in ms. @default 10 (Celery's base) */
  baseMs: number;
  /** Largest backoff ceiling in ms. @default 10000 (Celery's max) */
  maxMs: number;
}

/** The backoff `alwaysRetry` uses unless `retryPolicy` says otherwise. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 3, baseMs: 10, maxMs: 10_000 };

/** Full jitter: a random wait between 0 and min(maxMs, baseMs * 2^attempt). */
export function backoffMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** Runs `operation`, retrying while `isRetryable(error)` says the failure was transient. */
export async function withRetry<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy,
  isRetryable: (error: unknown) => boolean,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= policy.maxRetries || !isRetryable(error)) throw error;
      await sleep(backoffMs(attempt, policy));
    }
  }
}
