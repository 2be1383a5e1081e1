/**
 * Did a guarded request that met a 409 land after all? Usually not: another writer changed the
 * document first (contention). But the same request can run twice, and the second run then meets
 * the first one's change and answers 409: the client re-sends it after a lost answer (its
 * `meta.attempts`), or the cluster re-runs it on a new primary after the old one failed mid-request
 * (PROOF.md, finding 14). Each attempt is settled by the read that follows its 409, from what the
 * document records of its writers (records.ts `Writers`):
 *
 * - its id among the last RECENT_WRITE_IDS writes: it landed;
 * - a `_create`: it landed only if it created the document (`created_by`), whatever followed;
 * - a guarded replace lands only as the version right after the one it was guarded on: if the
 *   document has had at most RECENT_WRITE_IDS writes since that version, the ids reach back to it
 *   and it did not land;
 * - beyond that, it may have landed only if it ran twice: the client re-sent it, or a new
 *   primary took over the shard since its base version (a higher primary term on the document).
 *   Otherwise it ran once and its 409 was contention.
 *
 * Each settled attempt is done with: the next attempt is guarded on the version the read found, so
 * a call that loses many races to other writers is judged per attempt, never by the total number
 * of writes since its first one (which made ordinary contention look like a re-run).
 */
import {
  type DocumentVersion,
  type StoredDocument,
  withinRecentWrites,
  wroteBy,
} from "./records.js";

/** A guarded request this call sent that answered 409. */
export interface SentAttempt {
  /** The version it was guarded on; null for a `_create`. */
  base: DocumentVersion | null;
  /** The client sent it more than once (an earlier copy's answer was lost). */
  resent: boolean;
}

/** What the read after a 409 tells about the attempt that met it. */
export type Settled = "landed" | "not landed" | "unknown";

/** Settles `attempt` (tagged `writeId`) from `stored`, the document as read after its 409. */
export function settle(
  attempt: SentAttempt,
  writeId: string,
  stored: StoredDocument | null,
): Settled {
  // Gone since: whatever it did was deleted with the document (the next attempt starts afresh).
  if (!stored) return "not landed";
  if (wroteBy(stored.source, writeId)) return "landed";
  const { base } = attempt;
  // A `_create` lands only by creating the document, which then records it as its creator.
  if (base === null) return "not landed";
  if (withinRecentWrites(base.version, stored.version)) return "not landed";
  const ranTwice = attempt.resent || stored.primaryTerm !== base.primaryTerm;
  return ranTwice ? "unknown" : "not landed";
}
