/**
 * Sets (`addToSet`, chords' member marks): a `map<text, timestamp>` column, member → the set's
 * expiry when that member was last written, in a table of its own (`<table>_sets`).
 *
 * A set expires as a whole at the last add's `expiresAt`, and restarts empty after that. Cassandra
 * gives a TTL to each collection element separately and drops it only at a whole second, so the
 * elements cannot carry the set's expiry alone: each element holds the exact expiry it was written
 * with, and only elements whose expiry is still ahead count. An add therefore writes its member and
 * re-writes the live members whose expiry differs with the new one (new TTL included), so the
 * whole set lives as long as its last add; members of an expired set are simply not counted and
 * Cassandra drops them within a second. Every write is a plain collection update (no Paxos): adding
 * a member twice is adding it once, so a re-sent or retried add is harmless.
 */
import type cassandra from "cassandra-driver";
import { ttlSeconds } from "./records.js";
import type { Statements } from "./schema.js";

/** The expiry stored for a set without one (the latest date JavaScript has). */
const NEVER = new Date(8.64e15);
/** Members per refreshing UPDATE, so each mutation stays far below Cassandra's size limit. */
const REFRESH_CHUNK = 1000;

export interface SetContext {
  client: cassandra.Client;
  cql: Statements;
  readOptions: cassandra.QueryOptions;
  writeOptions: cassandra.QueryOptions;
}

/** The members of a stored map still live at `now`. */
function liveMembers(row: cassandra.types.Row | undefined, now: number): Map<string, Date> {
  const stored = (row?.get("members") as Record<string, Date> | null | undefined) ?? {};
  return new Map(Object.entries(stored).filter(([, expiry]) => expiry.getTime() > now));
}

/**
 * Adds `member` (and extends the set's life to `expiresAt`); the set's size afterwards, read at
 * `readConsistency` after the add was acknowledged at `writeConsistency`, so it counts this add and
 * every add acknowledged before it (with quorum levels, as the defaults are).
 */
export async function addMember(
  context: SetContext,
  key: string,
  member: string,
  expiresAt: Date | null,
): Promise<number> {
  const { client, cql, readOptions, writeOptions } = context;
  const now = Date.now();
  const expiry = expiresAt ?? NEVER;
  const ttl = ttlSeconds(expiresAt, now);
  const before = liveMembers((await client.execute(cql.readSet, [key], readOptions)).first(), now);
  // Its own member first, then the live ones with another expiry (a refresh).
  const writes = [
    member,
    ...[...before]
      .filter(([name, stored]) => name !== member && stored.getTime() !== expiry.getTime())
      .map(([name]) => name),
  ];
  for (let i = 0; i < writes.length; i += REFRESH_CHUNK) {
    const chunk = Object.fromEntries(writes.slice(i, i + REFRESH_CHUNK).map((m) => [m, expiry]));
    await client.execute(cql.addToSet, [ttl, chunk, key], writeOptions);
  }
  const after = liveMembers((await client.execute(cql.readSet, [key], readOptions)).first(), now);
  // This add counts in its own answer even when its expiry has already passed.
  after.set(member, expiry);
  return after.size;
}
