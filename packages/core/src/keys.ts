/** Celery's key names for key-value stores (KeyValueStoreBackend, CELERY-COMPAT.md §4). */

/** Celery's key prefix for a task's record: `celery-task-meta-<id>`. */
export const TASK_KEY_PREFIX = "celery-task-meta-";
/** Celery's key prefix for a saved group: `celery-taskset-meta-<id>`. */
export const GROUP_KEY_PREFIX = "celery-taskset-meta-";

/** Celery's counter of a chord's finished members: `chord-unlock-<group id>`. */
export const CHORD_UNLOCK_KEY_PREFIX = "chord-unlock-";
/** Core's own per-member delivery counter of a chord: `chord-part-<group id>-<task id>`. */
export const CHORD_PART_KEY_PREFIX = "chord-part-";

/**
 * Celery's `global_keyprefix` transport option as it prepends it: `_` is added unless the prefix
 * already ends in one of `:` `_` `-` `.`, so "x" gives `x_celery-task-meta-<id>`.
 */
export function celeryKeyPrefix(globalPrefix: string | undefined): string {
  if (!globalPrefix) return "";
  return /[:_.-]$/.test(globalPrefix) ? globalPrefix : `${globalPrefix}_`;
}
