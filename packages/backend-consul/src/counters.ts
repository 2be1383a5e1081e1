/**
 * Counters and sets: Consul has none, so both are JSON values changed by every write's
 * check-and-set (README: "How the guard…"); the value answered is the one a commit wrote.
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

  /** Adds `member` to set `key` (restarted empty when expired); its size (README: "Sets"). */
  addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.sessions.checkAndSet(`add to set ${key}`, this.keys.set(key), (entry) => {
      const stored = entry ? decodeSet(entry.value, key) : null;
      const members = stored && !isExpired(stored) ? stored.members : [];
      // Written even when present (its expiry moves): the size answered is then a committed one.
      if (!members.includes(member)) members.push(member);
      return { value: encodeSet(members, expiresAt), expiresAt, result: members.length };
    });
  }
}
