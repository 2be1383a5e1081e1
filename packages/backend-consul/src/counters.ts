/**
 * Counters and sets. Consul has no atomic counter: both are JSON values changed by the same
 * check-and-set on the key's ModifyIndex as every write (`ExpirySessions.checkAndSet`, core's
 * `retryLostRaces` between rounds), so the value answered is the one a committed round wrote.
 */
import { type CeleryKeys, isExpired } from "@resultstore/core/backend";
import { decodeCounter, decodeSet, encodeCounter, encodeSet } from "./records.js";
import type { ExpirySessions } from "./sessions.js";

export class Counters {
  constructor(
    private readonly sessions: ExpirySessions,
    private readonly keys: CeleryKeys,
  ) {}

  /** Adds `by` to counter `key` (restarted at 0 when expired); the new count. */
  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.sessions.checkAndSet(`incr of counter ${key}`, this.keys.counter(key), (entry) => {
      const current = entry ? decodeCounter(entry.value, key) : null;
      const count = (current && !isExpired(current) ? current.count : 0) + by;
      return { value: encodeCounter(count, expiresAt), expiresAt, result: count };
    });
  }

  /**
   * Adds `member` to set `key` (restarted empty when expired); the set's size. One value holds
   * at most ~380 KB: about 1,800 members of 200 bytes (ValueTooLargeError beyond).
   */
  addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.sessions.checkAndSet(`add to set ${key}`, this.keys.set(key), (entry) => {
      const stored = entry ? decodeSet(entry.value, key) : null;
      const members = stored && !isExpired(stored) ? stored.members : [];
      // Written even when the member is there (its expiry moves): the size answered is then the
      // one a committed check-and-set saw, never a possibly stale read's.
      if (!members.includes(member)) members.push(member);
      return { value: encodeSet(members, expiresAt), expiresAt, result: members.length };
    });
  }
}
