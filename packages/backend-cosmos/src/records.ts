/** Celery's cosmosdbsql documents, and our fields beside `value` (README: Storage layout). */
import { decodeJson, encodeJson, type GroupRecord, type TaskRecord } from "@resultstore/core";
import {
  CeleryKeys,
  decodeMeta,
  encodeMeta,
  formatCeleryDate,
  groupTuple,
  isPlainObject,
  parseCeleryDate,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";

/** Document ids: Celery's keys; counters and sets in a key space of their own (core's default). */
export const keys = new CeleryKeys();

/** Cosmos DB's 2 MB item limit; records get (limit - 16 KiB) / 2, as the meta JSON embedded as a string at most doubles. */
export const ITEM_LIMIT_BYTES = 2_000_000;
export const MAX_RECORD_BYTES = Math.floor((ITEM_LIMIT_BYTES - 16 * 1024) / 2);

/** `TaskRecord.updatedAt` as epoch ms, beside `expires_at`: what `find` orders our documents by. */
export const UPDATED_FIELD = "updated_at";

/** A document we read: any field can be missing or odd in documents Celery or others wrote. */
export type StoredDocument = Record<string, unknown> & { id: string; ttl?: number; _etag?: string };

/** The expiry fields of every document we write (`ttl: -1`: never); `ttl` rounded up (README: Expiry and cleanup). */
export function expiryFields(expiresAt: Date | null, now = Date.now()) {
  if (!expiresAt) return { expires_at: null, ttl: -1 };
  const ttl = Math.max(1, Math.ceil((expiresAt.getTime() - now) / 1000));
  return { expires_at: expiresAt.getTime(), ttl };
}

/** When the document stops being visible: `expires_at`, else Cosmos's `_ts + ttl`, else never. */
function documentExpiry(doc: StoredDocument): Date | null {
  if (typeof doc.expires_at === "number") return new Date(doc.expires_at);
  if (typeof doc.ttl === "number" && doc.ttl > 0 && typeof doc._ts === "number") {
    return new Date((doc._ts + doc.ttl) * 1000);
  }
  return null;
}

export function encodeTask(record: TaskRecord, resultJson: string, writeId?: string) {
  return {
    id: keys.task(record.taskId),
    // Metadata lives in its own property, so Celery's value stays exactly what Celery writes.
    value: encodeMeta(record, { resultJson, includeMetadata: false }),
    // status, name and the time as properties `find`'s query filters and orders by (find.ts).
    status: record.status,
    name: record.name,
    [UPDATED_FIELD]: record.updatedAt?.getTime() ?? null,
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
  const updatedAt = doc[UPDATED_FIELD];
  record.updatedAt = typeof updatedAt === "number" ? new Date(updatedAt) : null;
  return record;
}

export function encodeGroup(group: GroupRecord) {
  return {
    id: keys.group(group.groupId),
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

/** A set member's property in `members`: never needs escaping in a patch path, never inherited. */
export function memberProperty(member: string): string {
  const hex = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`;
  return `m${encodeURIComponent(member).replace(/[.!~*'()]/g, hex)}`;
}
