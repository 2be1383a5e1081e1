/** Counters (`incr`) and sets (`addToSet`), each in a table of its own. */
import { chunks, isExpired, LOST_RACE, retryLostRaces } from "@resultstore/core/backend";
import cassandra from "cassandra-driver";
import { BACKEND_NAME, type ResolvedConfig } from "./config.js";
import { errors, lightweightTransaction } from "./errors.js";
import { type Statements, ttlSeconds } from "./records.js";

export interface Context {
  client: cassandra.Client;
  cql: Statements;
  config: ResolvedConfig;
}

/** The expiry stored for a set without one (the latest date JavaScript has). */
const NEVER = new Date(8.64e15);
/** Members per refreshing UPDATE, so each mutation stays far below Cassandra's size limit. */
const REFRESH_CHUNK = 1000;

/**
 * Adds `by` to counter `key` with a compare-and-set on a bigint with a TTL, read again after each
 * lost race; the new value. Not Cassandra's `counter`: it takes no TTL, and an update retried after
 * a timeout may count twice (README: incr).
 */
export function incr(context: Context, key: string, by: number, expiresAt: Date | null) {
  const { client, cql, config } = context;
  const label = `incr of counter ${key}`;
  return errors.guard(label, () =>
    retryLostRaces(BACKEND_NAME, label, async () => {
      const now = Date.now();
      const row = (await client.execute(cql.readCounter, [key], config.readOptions)).first();
      const storedExpiry = (row?.get("expires_at") as Date | null | undefined) ?? null;
      // Cassandra drops the row at the TTL's whole second; until then our exact expiry decides.
      const live = row && !isExpired({ expiresAt: storedExpiry }, new Date(now));
      const value = (live ? Number(row.get("value")) : 0) + by;
      const next = cassandra.types.Long.fromNumber(value);
      const ttl = ttlSeconds(expiresAt, now);
      const [query, params]: [string, unknown[]] = row
        ? [cql.updateCounter, [ttl, next, expiresAt, key, row.get("value"), storedExpiry]]
        : [cql.createCounter, [key, next, expiresAt, ttl]];
      // A transaction whose outcome is unknown ends the increment: it may have counted.
      const send = () => client.execute(query, params, config.sendOnce);
      const outcome = await lightweightTransaction(label, send);
      return outcome.wasApplied() ? value : LOST_RACE;
    }),
  );
}

function liveMembers(row: cassandra.types.Row | null, now: Date): Map<string, Date> {
  const stored = (row?.get("members") as Record<string, Date> | null | undefined) ?? {};
  return new Map(Object.entries(stored).filter(([, expiresAt]) => !isExpired({ expiresAt }, now)));
}

/**
 * Adds `member` to set `key` (member → the set's expiry) until `expiresAt`; the size, read after
 * the add was acknowledged. Cassandra expires elements one by one, at a whole second, so only
 * members whose exact expiry is ahead count, and an add re-writes the live members with its
 * expiry. No Paxos: adding twice adds once (README: addToSet).
 */
export function addToSet(context: Context, key: string, member: string, expiresAt: Date | null) {
  const { client, cql, config } = context;
  return errors.guard(`add to set ${key}`, async () => {
    const now = new Date();
    const expiry = expiresAt ?? NEVER;
    const ttl = ttlSeconds(expiresAt, now.getTime());
    const read = async () =>
      liveMembers((await client.execute(cql.readSet, [key], config.readOptions)).first(), now);
    // Its own member first, then the live ones with another expiry (a refresh).
    const refreshed = [...(await read())]
      .filter(([name, stored]) => name !== member && stored.getTime() !== expiry.getTime())
      .map(([name]) => name);
    for (const chunk of chunks([member, ...refreshed], REFRESH_CHUNK)) {
      const members = Object.fromEntries(chunk.map((name) => [name, expiry]));
      await client.execute(cql.addToSet, [ttl, members, key], config.writeOptions);
    }
    const after = await read();
    // This add counts in its own answer even when its expiry has already passed.
    after.set(member, expiry);
    return after.size;
  });
}
