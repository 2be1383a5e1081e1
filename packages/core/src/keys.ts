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

/** Where a counter lives when its own key would spell a task's, group's, set's or counter's key. */
export const COUNTER_KEY_PREFIX = "resultstore-counter-";
/** Where every set (`addToSet`) lives: `resultstore-set-<key>`. */
export const SET_KEY_PREFIX = "resultstore-set-";

/** The prefixes a counter's key must not start with to be stored as itself. */
const RESERVED_PREFIXES = [TASK_KEY_PREFIX, GROUP_KEY_PREFIX, COUNTER_KEY_PREFIX, SET_KEY_PREFIX];

/**
 * The storage key of counter `key` in a backend whose tasks, groups, counters and sets share one
 * key space (a DynamoDB table, a Cosmos container): `key` itself — Celery's layout, so Celery's
 * `chord-unlock-<gid>` stays where Celery's DynamoDB backend counts it — unless `key` starts with
 * one of the reserved prefixes; then `resultstore-counter-<key>`. So `incr("celery-task-meta-x")`
 * never touches task x's item. No two keys share a storage key (each side of the rule is
 * one-to-one, and their ranges differ by their first prefix), and none is a task's, group's or
 * set's: those start with a reserved prefix, which a key stored as itself does not, and an escaped
 * key starts with `resultstore-counter-`, which neither prefix of theirs does.
 */
export function counterKey(key: string): string {
  return RESERVED_PREFIXES.some((prefix) => key.startsWith(prefix))
    ? `${COUNTER_KEY_PREFIX}${key}`
    : key;
}

/** The storage key of set `key` in a shared key space (see {@link counterKey}): `resultstore-set-<key>`. */
export function setKey(key: string): string {
  return `${SET_KEY_PREFIX}${key}`;
}

/** How a backend spells keys beyond Celery's task and group keys. */
export interface KeyLayout {
  /** The storage key of counter `key` (after the prefix). @default {@link counterKey} */
  counter?(key: string): string;
  /** The storage key of set `key` (after the prefix). @default {@link setKey} */
  set?(key: string): string;
  /** The final spelling of a whole key (e.g. DynamoDB's Python bytes repr). @default as is */
  spell?(key: string): string;
}

/**
 * The one Celery key builder: `<prefix>celery-task-meta-<id>`, `<prefix>celery-taskset-meta-<id>`,
 * and the backend's counter and set keys under the same prefix. `prefix` is used as given (pass
 * {@link celeryKeyPrefix} of Celery's `global_keyprefix` where the backend follows it).
 */
export class CeleryKeys {
  private readonly spell: (key: string) => string;
  private readonly counterOf: (key: string) => string;
  private readonly setOf: (key: string) => string;

  constructor(
    readonly prefix = "",
    layout: KeyLayout = {},
  ) {
    this.spell = layout.spell ?? ((key) => key);
    this.counterOf = layout.counter ?? counterKey;
    this.setOf = layout.set ?? setKey;
  }

  /** A task's record. */
  task(taskId: string): string {
    return this.spell(`${this.prefix}${TASK_KEY_PREFIX}${taskId}`);
  }

  /** A saved group. */
  group(groupId: string): string {
    return this.spell(`${this.prefix}${GROUP_KEY_PREFIX}${groupId}`);
  }

  /** A counter (`incr`): core passes whole keys, e.g. Celery's `chord-unlock-<gid>`. */
  counter(key: string): string {
    return this.spell(`${this.prefix}${this.counterOf(key)}`);
  }

  /** A set (`addToSet`). */
  set(key: string): string {
    return this.spell(`${this.prefix}${this.setOf(key)}`);
  }
}
