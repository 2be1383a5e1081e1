/**
 * Counters: a compare-and-set on a plain bigint column with a TTL, and in-process coalescing.
 *
 * Cassandra's `counter` type would take one round trip, but counter cells take no TTL (so a
 * counter could never restart once expired) and a counter update retried after a timeout may
 * count twice. A lightweight transaction either applies once or not at all.
 *
 * Increments of one key that arrive while a transaction for it is in flight are summed into the
 * next one, and each caller gets the value a one-at-a-time run would have given it: exact, and one
 * Paxos round per batch instead of one per call (and no contention with ourselves).
 */
import { BackendError } from "@resultstore/core";
import cassandra from "cassandra-driver";
import { BACKEND_NAME } from "./config.js";
import { backoff, MAX_ATTEMPTS } from "./contention.js";
import { ttlSeconds } from "./rows.js";
import type { Statements } from "./schema.js";

interface Waiter {
  by: number;
  expiresAt: Date | null;
  resolve(value: number): void;
  reject(error: unknown): void;
}

export interface CounterContext {
  client: cassandra.Client;
  cql: Statements;
  readOptions: cassandra.QueryOptions;
  writeOptions: cassandra.QueryOptions;
}

export class Counters {
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly draining = new Set<string>();

  /** Adds `by` to `key`; `run` wraps each transaction (error mapping). */
  incr(
    context: CounterContext,
    key: string,
    by: number,
    expiresAt: Date | null,
    run: <T>(operation: () => Promise<T>) => Promise<T>,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(key) ?? [];
      queue.push({ by, expiresAt, resolve, reject });
      this.waiting.set(key, queue);
      if (!this.draining.has(key)) void this.drain(context, key, run);
    });
  }

  private async drain(
    context: CounterContext,
    key: string,
    run: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {
    this.draining.add(key);
    for (let batch = this.take(key); batch.length > 0; batch = this.take(key)) {
      const total = batch.reduce((sum, waiter) => sum + waiter.by, 0);
      // The latest expiry asked for: every caller in the batch wants the counter alive that long.
      const expiresAt = batch
        .map((w) => w.expiresAt)
        .reduce((a, b) => (a === null || b === null ? null : new Date(Math.max(+a, +b))));
      try {
        let value = await run(() => addOnce(context, key, total, expiresAt));
        for (const waiter of batch) {
          value += waiter.by;
          waiter.resolve(value);
        }
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
    }
    this.draining.delete(key);
  }

  private take(key: string): Waiter[] {
    const batch = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    return batch;
  }
}

/** Adds `by` in one transaction; returns the value before it (0 when absent or expired). */
async function addOnce(
  context: CounterContext,
  key: string,
  by: number,
  expiresAt: Date | null,
): Promise<number> {
  const { client, cql, readOptions, writeOptions } = context;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const now = Date.now();
    const row = (await client.execute(cql.readCounter, [key], readOptions)).first();
    const storedExpiry = (row?.get("expires_at") as Date | null | undefined) ?? null;
    // Cassandra drops the row at the TTL's whole second; until then our exact expiry decides.
    const live = row && !(storedExpiry && storedExpiry.getTime() <= now);
    const base = live ? Number(row.get("value")) : 0;
    const next = cassandra.types.Long.fromNumber(base + by);
    const ttl = ttlSeconds(expiresAt, now);
    const outcome = row
      ? await client.execute(
          cql.updateCounter,
          [ttl, next, expiresAt, key, row.get("value"), storedExpiry],
          writeOptions,
        )
      : await client.execute(cql.createCounter, [key, next, expiresAt, ttl], writeOptions);
    if (outcome.wasApplied()) return base;
    await backoff(attempt); // another process got there first: read again
  }
  throw new BackendError(BACKEND_NAME, `incr of ${key} lost ${MAX_ATTEMPTS} races in a row.`);
}
