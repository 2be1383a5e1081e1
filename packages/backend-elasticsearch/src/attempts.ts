/**
 * Did a guarded request that met a 409 land after all? Usually not: another writer changed the
 * document first (contention). But the same request can run twice, and the second run then meets
 * the first one's change and answers 409: the client re-sends it after a lost answer (its
 * `meta.attempts`), or the cluster re-runs it on a new primary after the old one failed mid-request
 * (PROOF.md, finding 14). So every task write and every increment tags the documents it writes
 * with its id (records.ts `Writers`), and each attempt is settled by the read that follows its 409:
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
import { type DocumentVersion, type StoredDocument, type Writers, writersOf } from "./records.js";

/** How many write ids a document keeps (newest last, about 40 bytes each). */
const RECENT_WRITE_IDS = 16;

/** A guarded request this call sent that answered 409. */
export interface SentAttempt {
  /** The version it was guarded on; null for a `_create`. */
  base: DocumentVersion | null;
  /** The client sent it more than once (an earlier copy's answer was lost). */
  resent: boolean;
}

/** Whether write `writeId` created the stored document or is among its recent writes: it landed. */
export function wroteBy(stored: StoredDocument, writeId: string): boolean {
  const { writeIds, createdBy } = writersOf(stored.source);
  return createdBy === writeId || writeIds.includes(writeId);
}

/** The writers a write on top of `before` records (`writeId` added last; null: it creates). */
export function writersAfter(before: Writers | null, writeId: string): Writers {
  if (!before) return { writeIds: [writeId], createdBy: writeId };
  const writeIds = [...before.writeIds.filter((id) => id !== writeId), writeId];
  return { writeIds: writeIds.slice(-RECENT_WRITE_IDS), createdBy: before.createdBy };
}

/** Settles `attempt` (tagged `writeId`) from `stored`, the document as read after its 409. */
export function settle(
  attempt: SentAttempt,
  writeId: string,
  stored: StoredDocument | null,
): "landed" | "not landed" | "unknown" {
  // Gone since: whatever it did was deleted with the document (the next attempt starts afresh).
  if (!stored) return "not landed";
  if (wroteBy(stored, writeId)) return "landed";
  const { base } = attempt;
  // A `_create` lands only by creating the document, which then records it as its creator.
  if (base === null) return "not landed";
  // Each write raises `_version` by one; -1 is unknown, and a lower version means the document
  // was deleted and created again, so nothing is known.
  const gap = stored.version - base.version;
  if (base.version >= 0 && gap >= 0 && gap <= RECENT_WRITE_IDS) return "not landed";
  const ranTwice = attempt.resent || stored.primaryTerm !== base.primaryTerm;
  return ranTwice ? "unknown" : "not landed";
}
