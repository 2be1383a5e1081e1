/**
 * Records: the pure merge that defines every write, Celery's meta JSON (CELERY-COMPAT.md §2, §4)
 * and group tuples. Backends that compare-and-swap call `applyWrite`; backends with server-side
 * conditions express the same rule with `statesRefusing`.
 */
import { decodeJson, encodeJson, quote } from "./codec.js";
import { formatCeleryDate, parseCeleryDate } from "./dates.js";
import { DecodeError, ValueTooLargeError } from "./errors.js";
import { canTransition } from "./states.js";
import type { GroupRecord, TaskRecord, TaskWrite } from "./types.js";
import { isPlainObject } from "./validate.js";

/** What a worker's request adds to a record: Celery's `result_extended` fields, group and parent. */
export const REQUEST_FIELDS = [
  "groupId",
  "parentId",
  "name",
  "args",
  "kwargs",
  "worker",
  "retries",
  "queue",
] as const;

const OPTIONAL_FIELDS = ["children", ...REQUEST_FIELDS] as const;

/** The record of a task nobody wrote: Celery reads it as PENDING. */
export function pendingRecord(taskId: string): TaskRecord {
  return {
    taskId,
    status: "PENDING",
    result: null,
    traceback: null,
    children: null,
    dateDone: null,
    updatedAt: null,
    groupId: null,
    parentId: null,
    name: null,
    args: null,
    kwargs: null,
    worker: null,
    retries: null,
    queue: null,
    metadata: {},
    expiresAt: null,
  };
}

/** Whether a record's `expiresAt` has passed at `now` (null never expires). */
export function isExpired(record: { expiresAt: Date | null }, now: Date = new Date()): boolean {
  return record.expiresAt !== null && record.expiresAt.getTime() <= now.getTime();
}

/**
 * The record after `write`, or null when the state rules refuse it. Fields the write does not
 * carry keep their stored values; metadata merges key by key. An expired record counts as absent.
 */
export function applyWrite(
  stored: TaskRecord | null,
  write: TaskWrite,
  now: Date = new Date(),
): TaskRecord | null {
  const current = stored && !isExpired(stored, now) ? stored : null;
  if (!canTransition(current?.status, write.status)) return null;
  const base = current ?? pendingRecord(write.taskId);
  const next: TaskRecord = {
    ...base,
    status: write.status,
    result: write.result,
    traceback: write.traceback,
    dateDone: write.dateDone,
    updatedAt: write.updatedAt,
    expiresAt: write.expiresAt,
    metadata: write.metadata ? { ...base.metadata, ...write.metadata } : base.metadata,
  };
  for (const field of OPTIONAL_FIELDS) {
    if (write[field] !== undefined)
      (next as unknown as Record<string, unknown>)[field] = write[field];
  }
  return next;
}

/** Turns a JS error into Celery's exception dict, which Python rebuilds into an exception. */
export function exceptionToDict(error: unknown): Record<string, unknown> {
  if (isPlainObject(error) && typeof error.exc_type === "string") return error;
  if (error instanceof Error) {
    const custom = error as Error & {
      excType?: string;
      excModule?: string;
      excMessage?: unknown[];
    };
    return {
      exc_type: custom.excType ?? pythonName(error.name),
      exc_message: custom.excMessage ?? [error.message],
      exc_module: custom.excModule ?? "builtins",
    };
  }
  return { exc_type: "Exception", exc_message: [String(error)], exc_module: "builtins" };
}

// JS errors whose Python builtin twin has the same meaning; anything else becomes `Exception` so
// Python never resolves a name to a non-exception class (Celery raises SecurityError then).
const PYTHON_BUILTINS = new Set([
  "TypeError",
  "RuntimeError",
  "ValueError",
  "KeyError",
  "TimeoutError",
]);
function pythonName(name: string): string {
  return PYTHON_BUILTINS.has(name) ? name : "Exception";
}

/** Whether the record carries any of Celery's `result_extended` fields. */
export function hasExtendedFields(record: TaskRecord): boolean {
  return (
    record.name !== null ||
    record.args !== null ||
    record.kwargs !== null ||
    record.worker !== null ||
    record.retries !== null ||
    record.queue !== null
  );
}

/** How {@link encodeMeta} lays out Celery's meta. */
export interface EncodeMetaOptions {
  /** Add our `metadata` key (Celery ignores keys it does not know). Default true. */
  includeMetadata?: boolean;
  /** The result already encoded, to skip encoding it again. */
  resultJson?: string;
}

/** Celery's key-value meta JSON for `record`, keys in Celery's order, ending with `task_id`. */
export function encodeMeta(record: TaskRecord, options: EncodeMetaOptions = {}): string {
  const parts = [
    `"status": ${quote(record.status)}`,
    `"result": ${options.resultJson ?? encodeJson(record.result)}`,
    `"traceback": ${encodeJson(record.traceback)}`,
    `"children": ${encodeJson(record.children)}`,
    `"date_done": ${record.dateDone ? quote(formatCeleryDate(record.dateDone)) : "null"}`,
  ];
  if (record.groupId) parts.push(`"group_id": ${quote(record.groupId)}`);
  if (record.parentId) parts.push(`"parent_id": ${quote(record.parentId)}`);
  if (hasExtendedFields(record)) {
    parts.push(
      `"name": ${encodeJson(record.name)}`,
      `"args": ${encodeJson(record.args)}`,
      `"kwargs": ${encodeJson(record.kwargs)}`,
      `"worker": ${encodeJson(record.worker)}`,
      `"retries": ${encodeJson(record.retries)}`,
      `"queue": ${encodeJson(record.queue)}`,
    );
  }
  if ((options.includeMetadata ?? true) && Object.keys(record.metadata).length > 0) {
    parts.push(`"metadata": ${encodeJson(record.metadata)}`);
  }
  parts.push(`"task_id": ${quote(record.taskId)}`);
  return `{${parts.join(", ")}}`;
}

/**
 * Reads a Celery meta (JSON text, bytes, or an already-decoded object) into a record. Accepts
 * every `date_done` format Celery 5.x wrote; `expiresAt` is left null for the backend to fill.
 */
export function decodeMeta(
  value: string | Uint8Array | Record<string, unknown>,
  taskId: string,
): TaskRecord {
  const meta =
    typeof value === "object" && !(value instanceof Uint8Array) ? value : decodeJson(value);
  if (!isPlainObject(meta) || typeof meta.status !== "string") {
    throw new DecodeError(`Stored meta for ${taskId} is not a Celery meta object.`);
  }
  const record = pendingRecord(typeof meta.task_id === "string" ? meta.task_id : taskId);
  record.status = meta.status;
  record.result = meta.result ?? null;
  record.traceback = typeof meta.traceback === "string" ? meta.traceback : null;
  record.children = Array.isArray(meta.children) ? meta.children : null;
  record.dateDone = parseCeleryDate(meta.date_done);
  readOptionalMetaFields(record, meta);
  return record;
}

/**
 * Copies the optional keys of a Celery meta onto `record`: group_id, parent_id, the six
 * `result_extended` fields and our `metadata`. A missing or mistyped key reads as null (or {}).
 */
export function readOptionalMetaFields(record: TaskRecord, meta: Record<string, unknown>): void {
  record.groupId = typeof meta.group_id === "string" ? meta.group_id : null;
  record.parentId = typeof meta.parent_id === "string" ? meta.parent_id : null;
  record.name = typeof meta.name === "string" ? meta.name : null;
  record.args = Array.isArray(meta.args) ? meta.args : null;
  record.kwargs = isPlainObject(meta.kwargs) ? meta.kwargs : null;
  record.worker = typeof meta.worker === "string" ? meta.worker : null;
  record.retries = typeof meta.retries === "number" ? meta.retries : null;
  record.queue = typeof meta.queue === "string" ? meta.queue : null;
  record.metadata = isPlainObject(meta.metadata) ? meta.metadata : {};
}

/** Celery's `GroupResult.as_tuple()`: `[[gid, null], [[[tid, null], null], …]]`. */
export function groupTuple(group: Pick<GroupRecord, "groupId" | "taskIds">): unknown {
  return [[group.groupId, null], group.taskIds.map((id) => [[id, null], null])];
}

/** Task ids from a group tuple (KV backends) or a flat id list (Celery's Mongo backend). */
export function taskIdsFromGroupValue(value: unknown): string[] {
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  if (Array.isArray(value) && Array.isArray(value[1])) {
    return (value[1] as unknown[]).map((child) => {
      const head = Array.isArray(child) ? child[0] : undefined;
      const id = Array.isArray(head) ? head[0] : head;
      if (typeof id !== "string") throw new DecodeError("Malformed group tuple.");
      return id;
    });
  }
  throw new DecodeError("Stored group is neither a group tuple nor an id list.");
}

/**
 * The size core holds against `capabilities.maxRecordBytes`: the meta JSON plus metadata, i.e.
 * `encodeMeta(applyWrite(null, write), { resultJson: write.resultJson }).length`, summed field by
 * field without building that record or its text (this runs before every write). Encoding the
 * structured fields here is also what rejects one Python could not read, before any backend call.
 */
export function measureWrite(write: TaskWrite): number {
  // Celery's JSON is ASCII-only (ensure_ascii): its length is its size in UTF-8 bytes.
  // Each part is `"key": value`: the key's length + 4; parts are joined by ", "; then "{" "}".
  let size = 2;
  let parts = 0;
  const part = (key: string, valueLength: number) => {
    size += key.length + 4 + valueLength;
    parts++;
  };
  part("status", quote(write.status).length);
  part("result", write.resultJson.length);
  part("traceback", encodeJson(write.traceback ?? null).length);
  part("children", encodeJson(write.children ?? null).length);
  part("date_done", write.dateDone ? celeryDateLength(write.dateDone) + 2 : 4);
  if (write.groupId) part("group_id", quote(write.groupId).length);
  if (write.parentId) part("parent_id", quote(write.parentId).length);
  if (EXTENDED_FIELDS.some((field) => write[field] !== undefined && write[field] !== null)) {
    for (const field of EXTENDED_FIELDS) part(field, encodeJson(write[field] ?? null).length);
  }
  if (write.metadata && Object.keys(write.metadata).length > 0)
    part("metadata", encodeJson(write.metadata).length);
  part("task_id", quote(write.taskId).length);
  return size + 2 * (parts - 1);
}

/** The fields {@link hasExtendedFields} looks at, in Celery's order (their meta keys too). */
const EXTENDED_FIELDS = ["name", "args", "kwargs", "worker", "retries", "queue"] as const;

/** `formatCeleryDate(date).length`: microseconds appear only when the milliseconds are not 0. */
function celeryDateLength(date: Date): number {
  const year = date.getUTCFullYear();
  // An invalid date throws there as in encodeMeta; a year beyond 4 digits is longer.
  if (!(year >= 0 && year <= 9999)) return formatCeleryDate(date).length;
  return date.getUTCMilliseconds() === 0 ? 25 : 32;
}

/**
 * Throws ValueTooLargeError when `record`, what a write makes of the stored record, outgrows
 * `limit` (the backend's `maxRecordBytes`). Core measured only the write itself; metadata merged
 * from earlier writes can make the record larger, and the database would then refuse it with an
 * error of its own, or store a record other readers cannot take. Measured as `measureWrite` does.
 */
export function assertRecordFits(
  backend: string,
  record: TaskRecord,
  resultJson: string,
  limit: number,
): void {
  const size = encodeMeta(record, { resultJson }).length;
  if (size > limit) throw new ValueTooLargeError(backend, size, limit);
}
