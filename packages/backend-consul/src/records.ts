/**
 * Our keys and values (CELERY-COMPAT.md §4–5, README: "Storage layout"): Celery's, plus our
 * `expires_at` (Celery ignores it), so reads and cleanup() know an expiry no session expresses,
 * and `updated_at`, the last write's time that `find` orders by.
 */
import {
  DecodeError,
  decodeJson,
  encodeJson,
  type GroupRecord,
  type TaskRecord,
} from "@resultstore/core";
import {
  CeleryKeys,
  CHORD_UNLOCK_KEY_PREFIX,
  decodeMeta,
  encodeMeta,
  formatCeleryDate,
  GROUP_KEY_PREFIX,
  groupTuple,
  isExpired,
  isPlainObject,
  parseCeleryDate,
  TASK_KEY_PREFIX,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";
import { TXN_MAX_BODY_BYTES } from "./client.js";

/** Ids never hold a "/", so no task, group or counter key can be a set's (README). */
const SETS_FOLDER = "resultstore-sets/";

/** Celery's keys under `prefix` ("" or "a/b/"); a counter is its own key (`chord-unlock-<gid>`). */
export function keysUnder(prefix: string): CeleryKeys {
  return new CeleryKeys(prefix, { counter: (key) => key, set: (key) => `${SETS_FOLDER}${key}` });
}

/** What cleanup() lists: at the shared KV root, only the names we write (README: "cleanup"). */
export function listedPrefixes(prefix: string): string[] {
  if (prefix !== "") return [prefix];
  return [TASK_KEY_PREFIX, GROUP_KEY_PREFIX, CHORD_UNLOCK_KEY_PREFIX, SETS_FOLDER];
}

/** Whether a listed key is this store's (under `prefix`), not one of a nested namespace. */
export function isOwnKey(key: string, prefix: string): boolean {
  const rest = key.slice(prefix.length);
  return !(rest.startsWith(SETS_FOLDER) ? rest.slice(SETS_FOLDER.length) : rest).includes("/");
}

/** Largest value we send: base64 in a txn body, so 3/4 of its cap, less room (README: "Limits"). */
export const MAX_VALUE_BYTES = Math.floor(((TXN_MAX_BODY_BYTES - 4096) * 3) / 4);

/** Core's measure of a record we accept: leaves room for our three fields and merged ones. */
export const MAX_RECORD_BYTES = 380 * 1024;

const dateJson = (date: Date | null) => encodeJson(date ? formatCeleryDate(date) : null);

/**
 * Celery's meta JSON with our `expires_at`, `updated_at` and `write_id` before `task_id` (README:
 * "Storage layout").
 */
export function encodeTask(record: TaskRecord, resultJson: string, writeId?: string): string {
  const meta = encodeMeta(record, { resultJson });
  // `task_id` is always the last key, and a quoted id can't contain an unescaped `, "task_id": `.
  const at = meta.lastIndexOf(', "task_id": ');
  const ours =
    `, "expires_at": ${dateJson(record.expiresAt)}, "updated_at": ${dateJson(record.updatedAt)}` +
    (writeId ? `, "write_id": ${encodeJson(writeId)}` : "");
  return `${meta.slice(0, at)}${ours}${meta.slice(at)}`;
}

/**
 * A stored task value, ours or Celery's. Celery's carry no `expires_at` (their session expires
 * them) nor `updated_at`.
 */
export function decodeTask(value: string, taskId: string): TaskRecord {
  const meta = decodeObject(value, `task ${taskId}`);
  const record = decodeMeta(meta, taskId);
  record.expiresAt = parseCeleryDate(meta.expires_at);
  record.updatedAt = parseCeleryDate(meta.updated_at);
  return record;
}

export function encodeGroup(group: GroupRecord): string {
  return encodeJson({
    result: groupTuple(group),
    date_done: formatCeleryDate(group.dateDone),
    expires_at: group.expiresAt ? formatCeleryDate(group.expiresAt) : null,
  });
}

/** A stored group, ours or Celery's (which has only `result`: its date reads as the epoch). */
export function decodeGroup(value: string, groupId: string): GroupRecord {
  const meta = decodeObject(value, `group ${groupId}`);
  return {
    groupId,
    taskIds: taskIdsFromGroupValue(meta.result),
    dateDone: parseCeleryDate(meta.date_done) ?? new Date(0),
    expiresAt: parseCeleryDate(meta.expires_at),
  };
}

export function encodeCounter(count: number, expiresAt: Date | null): string {
  return `{"count": ${count}, "expires_at": ${dateJson(expiresAt)}}`;
}

export function decodeCounter(value: string, key: string) {
  const meta = decodeObject(value, `counter ${key}`);
  if (typeof meta.count !== "number" || !Number.isSafeInteger(meta.count))
    throw new DecodeError(`Stored counter ${key} has no integer count.`);
  return { count: meta.count, expiresAt: parseCeleryDate(meta.expires_at) };
}

export function encodeSet(members: string[], expiresAt: Date | null): string {
  return `{"members": ${encodeJson(members)}, "expires_at": ${dateJson(expiresAt)}}`;
}

export function decodeSet(value: string, key: string) {
  const meta = decodeObject(value, `set ${key}`);
  const { members } = meta;
  if (!Array.isArray(members) || !members.every((m) => typeof m === "string"))
    throw new DecodeError(`Stored set ${key} has no list of string members.`);
  return { members, expiresAt: parseCeleryDate(meta.expires_at) };
}

export function storedWriteId(value: string): string | undefined {
  const writeId = storedObject(value)?.write_id;
  return typeof writeId === "string" ? writeId : undefined;
}

/** Whether `value` is one of ours whose `expires_at` has passed. */
export function hasExpired(value: string, now: Date): boolean {
  const meta = storedObject(value);
  return !!meta && isExpired({ expiresAt: parseCeleryDate(meta.expires_at) }, now);
}

/** A stored value's JSON object, or undefined when it is none (anyone may write to a key). */
function storedObject(value: string): Record<string, unknown> | undefined {
  try {
    return decodeObject(value, "value");
  } catch {
    return undefined;
  }
}

function decodeObject(value: string, what: string): Record<string, unknown> {
  const meta = decodeJson(value);
  if (!isPlainObject(meta)) throw new DecodeError(`Stored ${what} is not a JSON object.`);
  return meta;
}
