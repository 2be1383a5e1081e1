/** Celery's key names for key-value stores (KeyValueStoreBackend, CELERY-COMPAT.md §4), and ours. */
import { createHash } from "node:crypto";
import { MAX_ID_BYTES } from "./validate.js";

/** Celery's key prefix for a task's record: `celery-task-meta-<id>`. */
export const TASK_KEY_PREFIX = "celery-task-meta-";
/** Celery's key prefix for a saved group: `celery-taskset-meta-<id>`. */
export const GROUP_KEY_PREFIX = "celery-taskset-meta-";

/** Celery's counter of a chord's finished members: `chord-unlock-<group id>`. */
export const CHORD_UNLOCK_KEY_PREFIX = "chord-unlock-";
/** Core's set of a chord's finished members (`addToSet`): `chord-members-<group id>`. */
export const CHORD_MEMBERS_KEY_PREFIX = "chord-members-";
/** Core's record of which delivery runs a chord's callback: `chord-claim-<group id>`. */
export const CHORD_CLAIM_KEY_PREFIX = "chord-claim-";

/**
 * `prefix` + `id` when that fits the id limit every backend's keys are sized for, else `prefix` +
 * `sha256:` and the hex digest of `id`. One id per key, so two ids never share a key (a fitting id
 * could spell a long id's digest only by finding a preimage of it).
 */
export function derivedKey(prefix: string, id: string): string {
  const key = `${prefix}${id}`;
  if (Buffer.byteLength(key) <= MAX_ID_BYTES) return key;
  return `${prefix}sha256:${createHash("sha256").update(id).digest("hex")}`;
}

/**
 * Celery's `global_keyprefix` transport option as it prepends it: `_` is added unless the prefix
 * already ends in one of `:` `_` `-` `.`, so "x" gives `x_celery-task-meta-<id>`.
 */
export function celeryKeyPrefix(globalPrefix: string | undefined): string {
  if (!globalPrefix) return "";
  return /[:_.-]$/.test(globalPrefix) ? globalPrefix : `${globalPrefix}_`;
}
