/**
 * Counters and sets: a compare-and-swap loop on their own documents (realtime GET, write guarded
 * by its version, again after a 409). No scripting, so clusters without painless work.
 */
import { randomUUID } from "node:crypto";
import { IncrementOutcomeUnknownError } from "@resultstore/core";
import { LOST_RACE, retryLostRaces } from "@resultstore/core/backend";
import { type SentAttempt, settle, writersAfter } from "./attempts.js";
import type { IndexApi } from "./client.js";
import { BACKEND_NAME } from "./config.js";
import { decodeCounter, decodeSet, encodeCounter, encodeSet, writersOf } from "./records.js";

/**
 * Adds `by` to counter document `id`; the new count. Client retries are off: a re-sent increment
 * would count twice. A cluster's re-run is settled by its id (attempts.ts) before another round.
 */
export function addToCounter(
  api: IndexApi,
  id: string,
  key: string,
  by: number,
  expiresAt: Date | null,
): Promise<number> {
  const operation = `incr of counter ${key}`;
  const incrementId = randomUUID();
  let pending: SentAttempt | null = null; // the attempt that met the last 409
  let sent = 0; // the value that attempt would have set
  return retryLostRaces(BACKEND_NAME, operation, async () => {
    const stored = await api.get(id, operation, 0).catch((error: unknown) => {
      // The last attempt's 409 is not settled: it may have counted.
      throw pending ? uncertainIncrement(id, error) : error;
    });
    if (pending) {
      const settled = settle(pending, incrementId, stored);
      if (settled === "landed") return sent;
      if (settled === "unknown") throw uncertainIncrement(id);
      pending = null;
    }
    sent = (stored ? decodeCounter(stored.source, key, new Date()) : 0) + by;
    const writers = writersAfter(stored && writersOf(stored.source), incrementId);
    const body = encodeCounter(sent, expiresAt, writers);
    const answer = await api.write(id, body, stored, operation, 0);
    if (answer.version) return sent;
    pending = { base: stored, resent: answer.resent };
    return LOST_RACE;
  });
}

/** An increment that met a 409 and may have counted (see attempts.ts). */
function uncertainIncrement(id: string, cause?: unknown): IncrementOutcomeUnknownError {
  return new IncrementOutcomeUnknownError(
    BACKEND_NAME,
    id,
    "an attempt met a conflict that a copy of it run twice (re-sent, or re-run on a new primary) can explain",
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Adds `members` to set document `id`; the size of the set it wrote. Adding is idempotent, so a
 * request re-sent or re-run after it landed does no harm. An expired set restarts empty.
 */
export function addMembers(
  api: IndexApi,
  id: string,
  key: string,
  members: readonly string[],
  expiresAt: Date | null,
): Promise<number> {
  const operation = `add to set ${key}`;
  return retryLostRaces(BACKEND_NAME, operation, async () => {
    const stored = await api.get(id, operation);
    const current = stored ? decodeSet(stored.source, key, new Date()) : [];
    const next = [...new Set([...current, ...members])];
    const answer = await api.write(id, encodeSet(next, expiresAt), stored, operation);
    return answer.version ? next.length : LOST_RACE;
  });
}
