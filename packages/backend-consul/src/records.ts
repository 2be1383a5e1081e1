/**
 * What we store under each key (CELERY-COMPAT.md §4–5): Celery's KV meta JSON for tasks, its
 * `{"result": <group tuple>}` for groups, plus our `expires_at` (Celery ignores unknown keys) so
 * reads and cleanup() know the expiry even where Consul's session cannot express it.
 */
import {
  DecodeError,
  decodeJson,
  encodeJson,
  type GroupRecord,
  type TaskRecord,
} from "@resultstore/core";
import {
  decodeMeta,
  encodeMeta,
  formatCeleryDate,
  groupTuple,
  isPlainObject,
  parseCeleryDate,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";
import { TXN_MAX_BODY_BYTES } from "./kv.js";

/**
 * Largest value we send. Values travel base64-encoded inside a /v1/txn body capped at 512 KB
 * (the same raft-derived cap as the 512 KB KV value limit), so 3/4 of it, less room for the
 * transaction's keys and verbs.
 */
export const MAX_VALUE_BYTES = Math.floor(((TXN_MAX_BODY_BYTES - 4096) * 3) / 4);

/** Core's measure of a record we accept: leaves room for `expires_at` and merged fields. */
export const MAX_RECORD_BYTES = 380 * 1024;

const expiryJson = (expiresAt: Date | null) =>
  encodeJson(expiresAt ? formatCeleryDate(expiresAt) : null);

/**
 * Celery's meta JSON (keys in Celery's order, `task_id` last) with our `expires_at` before it, and
 * `write_id`, the call that wrote it (core's `writeId`), when there is one: a call sent again after
 * it landed recognises itself by it (store.ts). Celery ignores keys it does not know.
 */
export function encodeTask(record: TaskRecord, resultJson: string, writeId?: string): string {
  const meta = encodeMeta(record, { resultJson });
  // `task_id` is always the last key, and a quoted id can't contain an unescaped `, "task_id": `.
  const at = meta.lastIndexOf(', "task_id": ');
  const ours =
    `, "expires_at": ${expiryJson(record.expiresAt)}` +
    (writeId ? `, "write_id": ${encodeJson(writeId)}` : "");
  return `${meta.slice(0, at)}${ours}${meta.slice(at)}`;
}

/** The `write_id` a stored task value carries, if any. */
export function storedWriteId(value: string): string | undefined {
  try {
    const meta = decodeJson(value);
    return isPlainObject(meta) && typeof meta.write_id === "string" ? meta.write_id : undefined;
  } catch {
    return undefined;
  }
}

/** A stored task value, ours or Celery's. Celery's carry no `expires_at`: their session expires them. */
export function decodeTask(value: string, taskId: string): TaskRecord {
  const meta = decodeObject(value, `task ${taskId}`);
  const record = decodeMeta(meta, taskId);
  record.expiresAt = parseCeleryDate(meta.expires_at);
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

export interface Counter {
  count: number;
  expiresAt: Date | null;
}

export function encodeCounter(counter: Counter): string {
  return `{"count": ${counter.count}, "expires_at": ${expiryJson(counter.expiresAt)}}`;
}

export function decodeCounter(value: string, key: string): Counter {
  const meta = decodeObject(value, `counter ${key}`);
  if (typeof meta.count !== "number" || !Number.isSafeInteger(meta.count)) {
    throw new DecodeError(`Stored counter ${key} has no integer count.`);
  }
  return { count: meta.count, expiresAt: parseCeleryDate(meta.expires_at) };
}

/** A set of members (`addToSet`), stored as `{"members": [...], "expires_at": ...}`. */
export interface StoredSet {
  members: string[];
  expiresAt: Date | null;
}

export function encodeSet(set: StoredSet): string {
  return `{"members": ${encodeJson(set.members)}, "expires_at": ${expiryJson(set.expiresAt)}}`;
}

export function decodeSet(value: string, key: string): StoredSet {
  const meta = decodeObject(value, `set ${key}`);
  const { members } = meta;
  if (!Array.isArray(members) || !members.every((m) => typeof m === "string")) {
    throw new DecodeError(`Stored set ${key} has no list of string members.`);
  }
  return { members, expiresAt: parseCeleryDate(meta.expires_at) };
}

/** The expiry any of our values carries, or undefined when `value` is not one of ours. */
export function storedExpiry(value: string): Date | null | undefined {
  try {
    const meta = decodeJson(value);
    if (!isPlainObject(meta) || !("expires_at" in meta)) return undefined;
    return parseCeleryDate(meta.expires_at);
  } catch {
    return undefined;
  }
}

function decodeObject(value: string, what: string): Record<string, unknown> {
  const meta = decodeJson(value);
  if (!isPlainObject(meta)) throw new DecodeError(`Stored ${what} is not a JSON object.`);
  return meta;
}
