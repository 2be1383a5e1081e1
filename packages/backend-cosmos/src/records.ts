/**
 * The stored documents, in Celery's cosmosdbsql layout (CELERY-COMPAT.md §5): `id` is the
 * key-value key, `value` is Celery's meta JSON as a string. Our fields sit beside `value`, where
 * Celery never looks: `status` (for cleanup and raw checks), `metadata`, `expires_at` (epoch ms,
 * what reads and cleanup use) and `ttl` (seconds, what Cosmos DB itself expires items by).
 */
import { decodeJson, encodeJson, type GroupRecord, type TaskRecord } from "@resultstore/core";
import {
  decodeMeta,
  encodeMeta,
  formatCeleryDate,
  GROUP_KEY_PREFIX,
  groupTuple,
  isPlainObject,
  parseCeleryDate,
  TASK_KEY_PREFIX,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";

/**
 * Cosmos DB's item limit is 2 MB of JSON; we count it as 2,000,000 bytes to stay clear of MiB vs MB.
 * `value` is Celery's meta JSON embedded as a JSON string, and escaping it again at most doubles it
 * (every `"` and `\` gains a backslash; the meta is ASCII-only). Our fields, the id and the system
 * properties fit in the reserve.
 */
export const ITEM_LIMIT_BYTES = 2_000_000;
const RESERVE_BYTES = 16 * 1024;
export const MAX_RECORD_BYTES = Math.floor((ITEM_LIMIT_BYTES - RESERVE_BYTES) / 2);

/** The expiry fields every document we write carries. `ttl: -1` = never (needs the container's TTL on). */
export interface ExpiryFields {
  expires_at: number | null;
  ttl: number;
}

/** What a document we read may hold; anything can be missing in documents Celery wrote. */
export interface StoredDocument {
  id: string;
  value?: unknown;
  status?: unknown;
  metadata?: unknown;
  write_id?: unknown;
  expires_at?: unknown;
  ttl?: number;
  date_done?: unknown;
  count?: unknown;
  members?: unknown;
  _ts?: unknown;
  _etag?: string;
}

export function expiryFields(expiresAt: Date | null, now = Date.now()): ExpiryFields {
  if (!expiresAt) return { expires_at: null, ttl: -1 };
  // Cosmos counts `ttl` in whole seconds from the item's last write; round up so the database
  // never deletes a record before we would hide it.
  return {
    expires_at: expiresAt.getTime(),
    ttl: Math.max(1, Math.ceil((expiresAt.getTime() - now) / 1000)),
  };
}

/** When the document stops being visible: our `expires_at`, else Cosmos's own `_ts + ttl`, else never. */
export function documentExpiry(doc: StoredDocument): Date | null {
  if (typeof doc.expires_at === "number") return new Date(doc.expires_at);
  if (typeof doc.ttl === "number" && doc.ttl > 0 && typeof doc._ts === "number") {
    return new Date((doc._ts + doc.ttl) * 1000);
  }
  return null;
}

export function encodeTask(record: TaskRecord, resultJson: string, writeId?: string) {
  return {
    id: TASK_KEY_PREFIX + record.taskId,
    // Metadata lives in its own property, so Celery's value stays exactly what Celery writes.
    value: encodeMeta(record, { resultJson, includeMetadata: false }),
    status: record.status,
    metadata: record.metadata,
    ...expiryFields(record.expiresAt),
    // The call that wrote it (core's writeId): sent again after it landed, it knows itself.
    ...(writeId ? { write_id: writeId } : {}),
  };
}

/** Decodes a task document, ours or Celery's (which has only `id` and `value`). */
export function decodeTask(doc: StoredDocument, taskId: string): TaskRecord {
  const record = decodeMeta(valueText(doc), taskId);
  if (isPlainObject(doc.metadata)) record.metadata = doc.metadata;
  record.expiresAt = documentExpiry(doc);
  return record;
}

export function encodeGroup(group: GroupRecord) {
  return {
    id: GROUP_KEY_PREFIX + group.groupId,
    // Celery's KV group value: {"result": GroupResult.as_tuple()}, as kombu JSON.
    value: `{"result": ${encodeJson(groupTuple(group))}}`,
    date_done: formatCeleryDate(group.dateDone),
    ...expiryFields(group.expiresAt),
  };
}

/** Decodes a group document; Celery's carry no `date_done`, so the write time (`_ts`) stands in. */
export function decodeGroup(doc: StoredDocument, groupId: string): GroupRecord {
  const text = valueText(doc);
  const value = typeof text === "string" ? decodeJson(text) : text;
  const taskIds = taskIdsFromGroupValue(isPlainObject(value) ? value.result : value);
  const dateDone =
    parseCeleryDate(doc.date_done) ?? new Date(typeof doc._ts === "number" ? doc._ts * 1000 : 0);
  return { groupId, taskIds, dateDone, expiresAt: documentExpiry(doc) };
}

function valueText(doc: StoredDocument): string | Record<string, unknown> {
  if (typeof doc.value === "string" || isPlainObject(doc.value)) return doc.value;
  return "null"; // decodeMeta turns a missing value into a clear DecodeError
}

/**
 * The property of a set document's `members` object that stands for `member`: `m` and the
 * member percent-encoded down to letters, digits, `-`, `_` and `%`, so a task id reads as itself
 * (`m<uuid>`). One member, one property, and a patch path (`/members/<property>`) that needs no
 * escaping and can name no property an object inherits (`__proto__`, `constructor`).
 */
export function memberProperty(member: string): string {
  const encoded = encodeURIComponent(member).replace(
    /[.!~*'()]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `m${encoded}`;
}

/**
 * A copy of `record` that shares no object with it (its result dropped: the version cache keeps
 * none), its structured fields taken through Celery JSON as the database keeps them; or undefined
 * when a field will not copy (then the version is not remembered, and the next write reads).
 */
export function detachedRecord(record: TaskRecord): TaskRecord | undefined {
  const copy = <T>(value: T): T =>
    value === null || value === undefined ? value : (decodeJson(encodeJson(value)) as T);
  try {
    return {
      ...record,
      result: null,
      children: copy(record.children),
      args: copy(record.args),
      kwargs: copy(record.kwargs),
      metadata: copy(record.metadata),
      dateDone: record.dateDone && new Date(record.dateDone.getTime()),
      expiresAt: record.expiresAt && new Date(record.expiresAt.getTime()),
    };
  } catch {
    return undefined;
  }
}
