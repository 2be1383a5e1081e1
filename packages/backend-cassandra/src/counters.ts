/**
 * Counters: a compare-and-set on a plain bigint column with a TTL.
 *
 * Cassandra's `counter` type would take one round trip, but counter cells take no TTL (so a
 * counter could never restart once expired) and a counter update retried after a timeout may
 * count twice. A lightweight transaction either applies once or not at all. Concurrent increments
 * of one key in this process are batched by core's `IncrementBatcher` (see `store.ts`), so each
 * batch costs one Paxos round and we never contend with ourselves.
 */
import { LOST_RACE, retryLostRaces } from "@resultstore/core/backend";
import cassandra from "cassandra-driver";
import { BACKEND_NAME } from "./config.js";
import { lightweightTransaction } from "./errors.js";
import { ttlSeconds } from "./records.js";
import type { Statements } from "./schema.js";

export interface CounterContext {
  client: cassandra.Client;
  cql: Statements;
  readOptions: cassandra.QueryOptions;
  /** For the transaction: must not be idempotent, so the driver never re-sends it. */
  writeOptions: cassandra.QueryOptions;
}

/** Adds `by` in one transaction, read again after each lost race; the new value. */
export function addToCounter(
  context: CounterContext,
  key: string,
  by: number,
  expiresAt: Date | null,
): Promise<number> {
  const { client, cql, readOptions, writeOptions } = context;
  return retryLostRaces(BACKEND_NAME, `incr of ${key}`, async () => {
    const now = Date.now();
    const row = (await client.execute(cql.readCounter, [key], readOptions)).first();
    const storedExpiry = (row?.get("expires_at") as Date | null | undefined) ?? null;
    // Cassandra drops the row at the TTL's whole second; until then our exact expiry decides.
    const live = row && !(storedExpiry && storedExpiry.getTime() <= now);
    const value = (live ? Number(row.get("value")) : 0) + by;
    const next = cassandra.types.Long.fromNumber(value);
    const ttl = ttlSeconds(expiresAt, now);
    // A transaction whose outcome is unknown ends the increment: it may have counted.
    const outcome = await lightweightTransaction(`incr of ${key}`, () =>
      row
        ? client.execute(
            cql.updateCounter,
            [ttl, next, expiresAt, key, row.get("value"), storedExpiry],
            writeOptions,
          )
        : client.execute(cql.createCounter, [key, next, expiresAt, ttl], writeOptions),
    );
    return outcome.wasApplied() ? value : LOST_RACE;
  });
}
