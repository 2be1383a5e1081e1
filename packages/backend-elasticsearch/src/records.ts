/**
 * Documents in Celery's Elasticsearch layout (CELERY-COMPAT.md §5), our fields beside its `result`
 * and `@timestamp`: Celery reads only `result` and updates only those two, so ours survive its
 * writes. `status` and `date_done` are copies for queries (README, "Storage layout").
 */
import { createHash } from "node:crypto";
import {
  DecodeError,
  decodeJson,
  encodeJson,
  type GroupRecord,
  type TaskRecord,
} from "@resultstore/core";
import {
  CeleryKeys,
  decodeMeta,
  encodeMeta,
  groupTuple,
  isExpired,
  isPlainObject,
  parseCeleryDate,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";

/**
 * Document ids, as Celery's KeyValueStoreBackend builds keys; counters under their whole key (as
 * Celery's `chord-unlock-<gid>`), sets at `set/<key>`, which no key can spell (keys have no `/`).
 */
export function documentIds(prefix: string): CeleryKeys {
  return new CeleryKeys(prefix, { counter: (key) => key, set: (key) => `set/${key}` });
}

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
 * Who wrote a document (attempts.ts): the recent writes, newest last, and the write that created
 * it, kept by every later write (null: Celery created it, or a version that did not record it).
 */
export interface Writers {
  writeIds: readonly string[];
  createdBy: string | null;
}

/** The writers a document records; a keyword field holds one value or an array. */
export function writersOf(source: Record<string, unknown>): Writers {
  const ids = source.write_id;
  return {
    writeIds: typeof ids === "string" ? [ids] : Array.isArray(ids) ? ids.filter(isString) : [],
    createdBy: typeof source.created_by === "string" ? source.created_by : null,
  };
}

/** A task document's version with its writers, as the version cache keeps it. */
export interface TaskVersion extends DocumentVersion, Writers {}
export function versionOf({ seqNo, primaryTerm, version, source }: StoredDocument): TaskVersion {
  return { seqNo, primaryTerm, version, ...writersOf(source) };
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
  // `@timestamp` is Celery's own "last written" stamp: ours is core's `updatedAt`, so `find`
  // orders our records and Celery's by one field (README, "Finding tasks").
  const writtenAt = record.updatedAt?.toISOString() ?? timestamp();
  return (
    `{"result": ${meta}, "@timestamp": ${JSON.stringify(writtenAt)}, ` +
    `"task_id": ${JSON.stringify(record.taskId)}, "name": ${JSON.stringify(record.name)}, ` +
    `"status": ${JSON.stringify(record.status)}, "date_done": ${dateJson(record.dateDone)}, ` +
    `"expires_at": ${dateJson(record.expiresAt)}, "metadata": ${metadata}, ` +
    `"metadata_terms": ${JSON.stringify(metadataTerms(record.metadata))}, ` +
    `"write_id": ${JSON.stringify(writers.writeIds)}, "created_by": ${JSON.stringify(writers.createdBy)}}`
  );
}

/** Longest `metadata_terms` entry kept as it is; a longer one is stored as its digest. */
const MAX_TERM_BYTES = 256;

/**
 * The keyword `find` matches one metadata key and value by: the key, NUL (no key holds one), a
 * type letter and the value — `s` and the string, `b` and `true`/`false`, `n` and the IEEE-754
 * bits of the number in hex (so 42 and 42.0 are one term, and "42" another). Over 256 bytes, `#`
 * and the SHA-256 of that text (a plain term always holds a NUL, a digest never), so a long value
 * never exceeds Lucene's 32 KB term limit. Null for values `find` cannot ask for
 * (arrays, objects, dates, NaN, integers beyond 2^53): those keys get no term and never match.
 * resultstore-celery builds the same terms (elasticsearch.py, `metadata_term`).
 */
export function metadataTerm(key: string, value: unknown): string | null {
  let typed: string;
  if (typeof value === "string") typed = `s${value}`;
  else if (typeof value === "boolean") typed = `b${value}`;
  // An integer beyond 2^53 reads back as a BigInt (core's exact codec), which no query equals.
  else if (typeof value === "number" && Number.isFinite(value) && !isUnsafeInteger(value))
    typed = `n${float64Hex(value)}`;
  else return null;
  const term = `${key}\u0000${typed}`;
  if (Buffer.byteLength(term) <= MAX_TERM_BYTES) return term;
  return `#${createHash("sha256").update(term).digest("hex")}`;
}

/** The terms of every top-level metadata value `find` can match (see {@link metadataTerm}). */
export function metadataTerms(metadata: Record<string, unknown>): string[] {
  const terms: string[] = [];
  for (const [key, value] of Object.entries(metadata)) {
    const term = metadataTerm(key, value);
    if (term !== null) terms.push(term);
  }
  return terms;
}

const isUnsafeInteger = (n: number) => Number.isInteger(n) && !Number.isSafeInteger(n);

/** The number's IEEE-754 bits, big-endian hex; -0 as 0 (they are equal in JavaScript). */
function float64Hex(value: number): string {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleBE(value === 0 ? 0 : value);
  return bytes.toString("hex");
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
  if (Array.isArray(value) || value instanceof Uint8Array) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return ![null, undefined, false, 0, 0n, ""].includes(value as never); // NaN is truthy in Python
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
  record.expiresAt = parseCeleryDate(source.expires_at);
  // Celery stamps `@timestamp` on its writes as we do ours: every record has its last write time.
  record.updatedAt = parseCeleryDate(source["@timestamp"]);
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
    dateDone:
      parseCeleryDate(source.date_done) ?? parseCeleryDate(source["@timestamp"]) ?? new Date(0),
    expiresAt: parseCeleryDate(source.expires_at),
  };
}

/**
 * A counter or set document: `kind` marks ours (Celery's Elasticsearch backend has neither). A
 * counter records the writers of its recent increments; a set keeps its members in the order
 * they were added.
 */
export function encodeCounter(count: number, expiresAt: Date | null, writers: Writers): string {
  const { writeIds: write_id, createdBy: created_by } = writers;
  return JSON.stringify({ kind: "counter", count, ...stamps(expiresAt), write_id, created_by });
}

export function encodeSet(members: readonly string[], expiresAt: Date | null): string {
  return JSON.stringify({ kind: "set", members, ...stamps(expiresAt) });
}

/** The count a stored counter holds at `now`: 0 once it expired. */
export function decodeCounter(source: Record<string, unknown>, key: string, now: Date): number {
  const { count } = source;
  if (source.kind !== "counter" || typeof count !== "number") throw notA("counter", key);
  return expired(source, now) ? 0 : count;
}

/** The members a stored set holds at `now`: none once it expired (a sweep may not have run yet). */
export function decodeSet(source: Record<string, unknown>, key: string, now: Date): string[] {
  const { members } = source;
  if (source.kind !== "set" || !Array.isArray(members)) throw notA("set", key);
  return expired(source, now) ? [] : members.filter(isString);
}

const notA = (kind: string, key: string) =>
  new DecodeError(`The document at ${kind} key ${key} is not a ${kind}.`);

const expired = (source: Record<string, unknown>, now: Date) =>
  isExpired({ expiresAt: parseCeleryDate(source.expires_at) }, now);

const stamps = (expiresAt: Date | null) => ({
  "@timestamp": timestamp(),
  expires_at: expiresAt?.toISOString() ?? null,
});

const isString = (value: unknown): value is string => typeof value === "string";

function dateJson(date: Date | null): string {
  return date ? `"${date.toISOString()}"` : "null";
}

/** Celery's `@timestamp`: UTC, milliseconds, `Z`. */
function timestamp(): string {
  return new Date().toISOString();
}
