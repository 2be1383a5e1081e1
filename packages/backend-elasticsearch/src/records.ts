/**
 * Documents in Celery's Elasticsearch layout (CELERY-COMPAT.md §5): `_id` = `celery-task-meta-<id>`,
 * `{ "result": <meta>, "@timestamp": … }`, plus our fields beside them. Celery updates with a
 * partial `{"doc": {result, @timestamp}}`, so our fields survive its writes, and it reads only
 * `_source.result`, so it never sees them. The meta in `result` is the truth for status, result
 * and Celery's fields; `status` and `date_done` beside it are copies for queries and dashboards.
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
  GROUP_KEY_PREFIX,
  groupTuple,
  isPlainObject,
  parseCeleryDate,
  TASK_KEY_PREFIX,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";

/** Document ids, as Celery's KeyValueStoreBackend builds keys (with its global key prefix). */
export class DocumentIds {
  constructor(private readonly prefix: string) {}
  task(taskId: string): string {
    return `${this.prefix}${TASK_KEY_PREFIX}${taskId}`;
  }
  group(groupId: string): string {
    return `${this.prefix}${GROUP_KEY_PREFIX}${groupId}`;
  }
  /** Core passes whole counter keys, e.g. Celery's `chord-unlock-<gid>`. */
  counter(key: string): string {
    return `${this.prefix}${key}`;
  }
  /**
   * Sets live apart from counters and tasks: `set/<key>`. Keys never contain `/` (core refuses
   * it in ids and keys), so no counter key or task id can spell a set's document id.
   */
  set(key: string): string {
    return `${this.prefix}set/${key}`;
  }
}

/**
 * The explicit mapping of an index we create. `dynamic: false` indexes only what is listed, so
 * no user data ever adds a field to the mapping (no mapping explosion); `result` and `metadata`
 * are disabled objects: kept in `_source` as they are, never parsed or indexed, whatever their
 * shape (Celery's JSON text, or its native-object form). An index someone else created keeps its
 * own mapping: every field we add there is a scalar or a string, so dynamic mapping stays small.
 */
export const INDEX_MAPPINGS = {
  dynamic: false,
  properties: {
    result: { type: "object", enabled: false },
    metadata: { type: "object", enabled: false },
    "@timestamp": { type: "date" },
    status: { type: "keyword" },
    date_done: { type: "date" },
    expires_at: { type: "date" },
    kind: { type: "keyword" },
    count: { type: "long" },
    write_id: { type: "keyword", index: false, doc_values: false },
    created_by: { type: "keyword", index: false, doc_values: false },
    members: { type: "keyword", index: false, doc_values: false },
  },
} as const;

/**
 * How many write ids a task document keeps (newest last, about 40 bytes each). A write that meets
 * a 409 looks for its id there: the 409 may answer a copy of itself that already landed, re-sent
 * by the client or re-run by the cluster on a new primary after a failover.
 */
export const RECENT_WRITE_IDS = 16;

/**
 * A document's version: `seqNo`/`primaryTerm` are what if_seq_no/if_primary_term compare;
 * `version` is `_version`, which every write of this document raises by one (-1: not reported).
 */
export interface DocumentVersion {
  seqNo: number;
  primaryTerm: number;
  version: number;
}

/** A document as GET/mget return it, with its version. */
export interface StoredDocument extends DocumentVersion {
  source: Record<string, unknown>;
}

/**
 * Who wrote a document, beside it: `writeIds` (the recent writes, this one last) let a write
 * recognise its own earlier attempt when a retried request meets a 409; `createdBy`, the write
 * that created the document (kept by every later write), lets a `_create` that met a 409 tell
 * whether it was its own copy that created the document, however many writes followed.
 */
export interface Writers {
  writeIds: readonly string[];
  createdBy: string | null;
}

/**
 * The task document as JSON text. We serialise it ourselves so the meta is byte-for-byte Celery's
 * JSON (big integers, NaN, kombu markers inside it stay exact).
 */
export function encodeTask(
  record: TaskRecord,
  resultJson: string,
  saveMetaAsText: boolean,
  writers: Writers,
): string {
  const meta = saveMetaAsText
    ? JSON.stringify(encodeMeta(record, { resultJson, includeMetadata: false }))
    : nativeMetaJson(record, resultJson);
  const metadata =
    Object.keys(record.metadata).length > 0 ? JSON.stringify(encodeJson(record.metadata)) : "null";
  return (
    `{"result": ${meta}, "@timestamp": ${JSON.stringify(timestamp())}, ` +
    `"status": ${JSON.stringify(record.status)}, "date_done": ${dateJson(record.dateDone)}, ` +
    `"expires_at": ${dateJson(record.expiresAt)}, "metadata": ${metadata}, ` +
    `"write_id": ${JSON.stringify(writers.writeIds)}, "created_by": ${JSON.stringify(writers.createdBy)}}`
  );
}

/**
 * The ids of the recent writes a task document records, oldest first. A keyword field holds one
 * value or an array; documents Celery created have none.
 */
export function recentWriteIds(source: Record<string, unknown>): string[] {
  const value = source.write_id;
  if (typeof value === "string") return [value];
  return Array.isArray(value) ? value.filter((id): id is string => typeof id === "string") : [];
}

/** The write that created a document (null: created by Celery, or before we recorded it). */
export function creatorOf(source: Record<string, unknown>): string | null {
  return typeof source.created_by === "string" ? source.created_by : null;
}

/** Whether write `writeId` created the document or is among its recent writes: it landed there. */
export function wroteBy(source: Record<string, unknown>, writeId: string): boolean {
  return creatorOf(source) === writeId || recentWriteIds(source).includes(writeId);
}

/** The writers a document records, as a write on top of it keeps them (`writeId` added last). */
export function writersAfter(source: Record<string, unknown> | null, writeId: string): Writers {
  if (!source) return { writeIds: [writeId], createdBy: writeId };
  return { writeIds: withWriteId(recentWriteIds(source), writeId), createdBy: creatorOf(source) };
}

/**
 * Whether a document now at `_version` `now` still records the id of every write since `_version`
 * `before` (each write raises `_version` by one; -1 is unknown, and a lower version means it was
 * deleted and created again, so nothing is known).
 */
export function withinRecentWrites(before: number, now: number): boolean {
  return before >= 0 && now >= before && now - before <= RECENT_WRITE_IDS;
}

/** The ids to store with write `writeId` on a document that recorded `before`. */
export function withWriteId(before: readonly string[], writeId: string): string[] {
  return [...before.filter((id) => id !== writeId), writeId].slice(-RECENT_WRITE_IDS);
}

/**
 * Celery's `elasticsearch_save_meta_as_text=False` form: the meta as an object whose `result` and
 * `traceback` are JSON text when truthy in Python (so 42 is "42", but 0, null and "" stay raw).
 */
function nativeMetaJson(record: TaskRecord, resultJson: string): string {
  return encodeMeta(
    { ...record, traceback: record.traceback ? encodeJson(record.traceback) : record.traceback },
    {
      resultJson: pythonTruthy(record.result) ? JSON.stringify(resultJson) : resultJson,
      includeMetadata: false,
    },
  );
}

function pythonTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === "")
    return false;
  if (value === 0n) return false;
  if (Array.isArray(value) || value instanceof Uint8Array) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

/** Reads a task document written by us or by Celery (either meta form, with or without our fields). */
export function decodeTask(source: Record<string, unknown>, taskId: string): TaskRecord {
  const value = source.result;
  let record: TaskRecord;
  if (typeof value === "string") record = decodeMeta(value, taskId);
  else if (isPlainObject(value)) record = decodeMeta(nativeMeta(value), taskId);
  else throw new DecodeError(`The document of task ${taskId} has no Celery meta in "result".`);
  record.metadata = decodeMetadata(source.metadata, taskId);
  // Celery's Elasticsearch backend never expires anything: its records carry no expiry.
  record.expiresAt = dateFrom(source.expires_at);
  return record;
}

/** Celery's `decode` for the native form: truthy `result` and `traceback` are JSON text. */
function nativeMeta(value: Record<string, unknown>): Record<string, unknown> {
  const meta = { ...value };
  if (typeof meta.result === "string" && meta.result) meta.result = decodeJson(meta.result);
  if (typeof meta.traceback === "string" && meta.traceback)
    meta.traceback = decodeJson(meta.traceback);
  return meta;
}

function decodeMetadata(value: unknown, taskId: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  const metadata = typeof value === "string" ? decodeJson(value) : value;
  if (!isPlainObject(metadata))
    throw new DecodeError(`The metadata of task ${taskId} is not an object.`);
  return metadata;
}

/** Celery's group document: `result` holds `{"result": <GroupResult tuple>}` in either meta form. */
export function encodeGroup(group: GroupRecord, saveMetaAsText: boolean): string {
  const tupleJson = encodeJson(groupTuple(group));
  const result = saveMetaAsText
    ? JSON.stringify(`{"result": ${tupleJson}}`)
    : `{"result": ${JSON.stringify(tupleJson)}}`;
  return (
    `{"result": ${result}, "@timestamp": ${JSON.stringify(timestamp())}, ` +
    `"date_done": ${dateJson(group.dateDone)}, "expires_at": ${dateJson(group.expiresAt)}}`
  );
}

export function decodeGroup(source: Record<string, unknown>, groupId: string): GroupRecord {
  const outer = typeof source.result === "string" ? decodeJson(source.result) : source.result;
  if (!isPlainObject(outer))
    throw new DecodeError(`The document of group ${groupId} has no Celery group in "result".`);
  const inner = typeof outer.result === "string" ? decodeJson(outer.result) : outer.result;
  return {
    groupId,
    taskIds: taskIdsFromGroupValue(inner),
    // Celery's group documents have no date_done: its @timestamp is when it saved the group.
    dateDone: dateFrom(source.date_done) ?? dateFrom(source["@timestamp"]) ?? new Date(0),
    expiresAt: dateFrom(source.expires_at),
  };
}

/**
 * A counter document (Celery's Elasticsearch backend has no counters; `kind` marks ours), with the
 * ids of its recent increments (see RECENT_WRITE_IDS).
 */
export function encodeCounter(count: number, expiresAt: Date | null, writers: Writers): string {
  return JSON.stringify({
    kind: "counter",
    count,
    "@timestamp": timestamp(),
    expires_at: expiresAt?.toISOString() ?? null,
    write_id: writers.writeIds,
    created_by: writers.createdBy,
  });
}

/** The count a stored counter holds at `now`: 0 once it expired. */
export function decodeCounter(source: Record<string, unknown>, key: string, now: Date): number {
  if (source.kind !== "counter" || typeof source.count !== "number") {
    throw new DecodeError(`The document at counter key ${key} is not a counter.`);
  }
  const expiresAt = dateFrom(source.expires_at);
  return expiresAt && expiresAt.getTime() <= now.getTime() ? 0 : source.count;
}

/** A set document (`addToSet`): its members, in the order they were added, and its expiry. */
export function encodeSet(members: readonly string[], expiresAt: Date | null): string {
  return JSON.stringify({
    kind: "set",
    members,
    "@timestamp": timestamp(),
    expires_at: expiresAt?.toISOString() ?? null,
  });
}

/** The members a stored set holds at `now`: none once it expired (a sweep may not have run yet). */
export function decodeSet(source: Record<string, unknown>, key: string, now: Date): string[] {
  const { members } = source;
  if (source.kind !== "set" || !Array.isArray(members)) {
    throw new DecodeError(`The document at set key ${key} is not a set.`);
  }
  const expiresAt = dateFrom(source.expires_at);
  if (expiresAt && expiresAt.getTime() <= now.getTime()) return [];
  return members.filter((member): member is string => typeof member === "string");
}

export function dateFrom(value: unknown): Date | null {
  return typeof value === "string" || typeof value === "number" ? parseCeleryDate(value) : null;
}

function dateJson(date: Date | null): string {
  return date ? `"${date.toISOString()}"` : "null";
}

/** Celery's `@timestamp`: UTC, milliseconds, `Z`. */
function timestamp(): string {
  return new Date().toISOString();
}
