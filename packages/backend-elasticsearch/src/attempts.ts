/**
 * Did a guarded request that met a 409 land after all? One request can run twice (re-sent by the
 * client after a lost answer, re-run by the cluster on a new primary: PROOF.md, finding 14), its
 * second run meeting its first. Task writes and increments tag what they write with their id, and
 * the read after each 409 settles that attempt from its own base version (the rules: README, "How
 * writes are atomic").
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

/** Whether write `writeId` created the stored document or is among its recent writes. */
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
  if (base === null) return "not landed"; // a `_create` that landed is the document's creator
  // Each write raises `_version` by one; -1 is unknown, and a lower version means the document
  // was deleted and created again, so nothing is known.
  const gap = stored.version - base.version;
  if (base.version >= 0 && gap >= 0 && gap <= RECENT_WRITE_IDS) return "not landed";
  const ranTwice = attempt.resent || stored.primaryTerm !== base.primaryTerm;
  return ranTwice ? "unknown" : "not landed";
}
