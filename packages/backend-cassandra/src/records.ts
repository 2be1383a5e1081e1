/**
 * Rows ↔ records. Celery's columns hold what Celery writes (blobs of its JSON text); our static
 * `rs_meta` holds the fields Celery's table has no column for, `rs_expires_at` the exact expiry.
 */
import {
  ConfigurationError,
  decodeJson,
  encodeJson,
  type GroupRecord,
  isReady,
  type TaskRecord,
} from "@resultstore/core";
import {
  groupTuple,
  isPlainObject,
  pendingRecord,
  readOptionalMetaFields,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";
import type { types } from "cassandra-driver";
import { BACKEND_NAME } from "./config.js";

/** Cassandra's largest TTL: 20 years. */
const MAX_TTL_SECONDS = 630_720_000;

type Row = types.Row;

/**
 * The TTL that makes Cassandra drop the data at `expiresAt`'s second, never before it. Cassandra
 * expires at (the server's current whole second + TTL), so count from the current whole second
 * and round the expiry up; 0 means no TTL.
 */
export function ttlSeconds(expiresAt: Date | null, now = Date.now()): number {
  if (!expiresAt) return 0;
  const ttl = Math.ceil(expiresAt.getTime() / 1000) - Math.floor(now / 1000);
  if (ttl > MAX_TTL_SECONDS) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Expiry ${expiresAt.toISOString()} is beyond Cassandra's 20-year TTL limit.`,
    );
  }
  return Math.max(1, ttl);
}

const json = (value: unknown): Buffer => Buffer.from(encodeJson(value), "utf8");
const fromJson = (blob: Buffer | null | undefined): unknown => (blob ? decodeJson(blob) : null);

/**
 * Celery's row columns for `record` (result, traceback and children as JSON text blobs), and our
 * static `rs_meta`.
 */
export function encodeTask(record: TaskRecord, resultJson: string, writeId?: string) {
  return {
    status: record.status,
    result: Buffer.from(resultJson, "utf8"),
    traceback: json(record.traceback),
    children: json(record.children),
    meta: encodeStaticMeta(record, writeId),
  };
}

/**
 * Our static `rs_meta`: metadata and the extended fields, only those that are set, and `write_id`,
 * the call that wrote the record (core's `writeId`): sent again after it landed, it knows itself.
 */
function encodeStaticMeta(record: TaskRecord, writeId: string | undefined): Buffer {
  const meta: Record<string, unknown> = writeId ? { write_id: writeId } : {};
  if (Object.keys(record.metadata).length > 0) meta.metadata = record.metadata;
  const fields = {
    group_id: record.groupId,
    parent_id: record.parentId,
    name: record.name,
    args: record.args,
    kwargs: record.kwargs,
    worker: record.worker,
    retries: record.retries,
    queue: record.queue,
  };
  for (const [key, value] of Object.entries(fields))
    if (value !== null && value !== undefined) meta[key] = value;
  return json(meta);
}

/** The expiry: ours to the millisecond, else (a row Celery wrote) what its TTL says, else none. */
function expiryOf(row: Row, now: number): Date | null {
  const exact = row.get("rs_expires_at") as Date | null;
  if (exact) return exact;
  const ttl = row.get("ttl") as number | null;
  return ttl ? new Date(now + ttl * 1000) : null;
}

/**
 * The record a `readTask`/`readGuard` row describes, or null for an empty partition. `result` and
 * `traceback` are decoded only when selected (the guard's read leaves them out).
 */
export function decodeTask(
  row: Row | undefined,
  taskId: string,
  now = Date.now(),
): TaskRecord | null {
  const status = row?.get("status") as string | null | undefined;
  if (!row || !status) return null;
  const record = pendingRecord(taskId);
  record.status = status;
  if (row.keys().includes("result")) record.result = fromJson(row.get("result"));
  if (row.keys().includes("traceback")) {
    const traceback = fromJson(row.get("traceback"));
    record.traceback = typeof traceback === "string" ? traceback : null;
  }
  const children = fromJson(row.get("children"));
  record.children = Array.isArray(children) ? children : null;
  // Celery stamps every row with date_done, STARTED included; the record carries it when ready only.
  record.dateDone = isReady(status) ? (row.get("date_done") as Date) : null;
  record.expiresAt = expiryOf(row, now);
  const meta = fromJson(row.get("rs_meta"));
  if (isPlainObject(meta)) readOptionalMetaFields(record, meta);
  return record;
}

/** The `write_id` in a row's `rs_meta`, if any. */
export function storedWriteId(row: Row | undefined): string | undefined {
  const meta = row ? fromJson(row.get("rs_meta")) : null;
  return isPlainObject(meta) && typeof meta.write_id === "string" ? meta.write_id : undefined;
}

/** Celery's group row: the group tuple as a JSON blob, plus our exact expiry. */
export function encodeGroup(group: GroupRecord): unknown[] {
  const value = json(groupTuple(group));
  return [group.groupId, value, group.dateDone, group.expiresAt, ttlSeconds(group.expiresAt)];
}

export function decodeGroup(row: Row, groupId: string): GroupRecord {
  return {
    groupId,
    taskIds: taskIdsFromGroupValue(fromJson(row.get("result"))),
    dateDone: row.get("date_done") as Date,
    expiresAt: (row.get("expires_at") as Date | null) ?? null,
  };
}
