/**
 * Celery's MongoDB document layout (CELERY-COMPAT.md §5) in both directions: the `$set` update a
 * write becomes, and the record a stored document (ours or Celery's) reads as.
 */
import {
  decodeJson,
  encodeJson,
  type GroupRecord,
  statesRefusing,
  type TaskRecord,
  type TaskWrite,
} from "@resultstore/core";
import {
  isPlainObject,
  parseCeleryDate,
  pendingRecord,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";
import { type Document, Long } from "mongodb";
import { assertStorableKeys, fromBson, toBson } from "./bson.js";
import type { MongoResultSerializer } from "./types.js";

/** Our own field beside Celery's: when the record expires (a BSON date, or null for never). */
export const EXPIRES_FIELD = "expires_at";

/** Celery's `result_extended` fields: its reader indexes all six, so each is always present. */
const EXTENDED_FIELDS = ["name", "args", "kwargs", "worker", "retries", "queue"] as const;

/** The task document as stored (what `find` gives back). */
export interface TaskDocument extends Document {
  _id: string;
}

/**
 * Matches the stored documents `write` may change: none whose state refuses it, and none that has
 * expired (an expired record counts as absent, so the write must start it afresh — see `store.ts`).
 * With `upsert`, a document this filter excludes makes the insert fail with a duplicate key.
 */
export function writableFilter(
  write: TaskWrite,
  now: Date,
  resultExpires: number | null,
): Document {
  return {
    _id: write.taskId,
    status: { $nin: [...statesRefusing(write.status)] },
    ...liveFilter(now, resultExpires),
  };
}

/** Documents that have not expired at `now` (see `expiredFilter`). */
export function liveFilter(now: Date, resultExpires: number | null): Document {
  return { $nor: [expiredFilter(now, resultExpires)] };
}

/**
 * Documents expired at `now`: our `expires_at` has passed, or — for documents Celery wrote, which
 * have none — `date_done` is older than Celery's `result_expires` (what its own cleanup deletes).
 */
export function expiredFilter(now: Date, resultExpires: number | null): Document {
  const ours = { [EXPIRES_FIELD]: { $lte: now } };
  if (resultExpires === null) return ours;
  const celerys = {
    [EXPIRES_FIELD]: { $exists: false },
    date_done: { $lt: new Date(now.getTime() - resultExpires * 1000) },
  };
  return { $or: [ours, celerys] };
}

/** How values are laid out for the engine at hand (FerretDB 1.x differs from MongoDB twice). */
export interface Layout {
  serializer: MongoResultSerializer;
  /**
   * False where an array cannot hold an array (FerretDB 1.x): Celery's `children` tuples always
   * nest, so they are stored as JSON text there.
   */
  nestedArrays: boolean;
  /**
   * False where `$setOnInsert` drops null values (FerretDB 1.x): the nulls then go in `$max`,
   * which sets a missing field and never replaces a stored one (null sorts below every other
   * BSON value), so a new document gets them in the same round trip.
   */
  insertsNulls: boolean;
  /** False where Decimal128 is unsupported (FerretDB 1.x closes the connection on one). */
  decimal128: boolean;
}

/**
 * The update that applies `write` as a merge: `$set` on the fields it carries (metadata key by
 * key, which is safe because core refuses `.` and `$` in metadata keys), and `$setOnInsert` nulls
 * for extended fields a new document would otherwise lack (`$max` nulls where the engine drops
 * `$setOnInsert` nulls, see `Layout.insertsNulls`).
 */
/** Our field naming the call that wrote a task document last (core's `writeId`). */
export const WRITE_ID_FIELD = "write_id";

export function encodeTask(write: TaskWrite, layout: Layout): Document {
  const set: Document = {
    status: write.status,
    result:
      layout.serializer === "bson"
        ? toBson(decodeJson(write.resultJson), layout.decimal128)
        : write.resultJson,
    traceback: write.traceback,
    date_done: write.dateDone,
    [EXPIRES_FIELD]: write.expiresAt,
  };
  const unset: Document = {};
  if (write.children !== undefined) {
    assertStorableKeys(write.children, "children");
    set.children =
      layout.nestedArrays || write.children === null ? write.children : encodeJson(write.children);
  }
  // Celery writes group_id / parent_id only when the task has one.
  if (write.groupId) set.group_id = write.groupId;
  else if (write.groupId === null) unset.group_id = "";
  if (write.parentId) set.parent_id = write.parentId;
  else if (write.parentId === null) unset.parent_id = "";
  // Which call wrote the document last, so that call re-sent after it landed (a lost answer,
  // alwaysRetry) knows itself (store.ts); Celery's reader takes only its own fields.
  if (write.writeId) set[WRITE_ID_FIELD] = write.writeId;
  else unset[WRITE_ID_FIELD] = "";
  // Celery's reader indexes `children` and, with result_extended, the six extended fields.
  const setOnInsert: Document = write.children === undefined ? { children: null } : {};
  for (const field of EXTENDED_FIELDS) {
    if (write[field] === undefined) setOnInsert[field] = null;
    else set[field] = write[field];
  }
  assertStorableKeys(set.args, "args");
  assertStorableKeys(set.kwargs, "kwargs");
  const metadata = Object.entries(write.metadata ?? {});
  for (const [key, value] of metadata) set[`metadata.${key}`] = value;
  if (metadata.length === 0) setOnInsert.metadata = {};
  const update: Document = { $set: set, $setOnInsert: setOnInsert };
  if (!layout.insertsNulls) {
    const nulls = Object.keys(setOnInsert).filter((field) => setOnInsert[field] === null);
    for (const field of nulls) delete setOnInsert[field];
    if (nulls.length > 0) update.$max = Object.fromEntries(nulls.map((field) => [field, null]));
  }
  if (Object.keys(unset).length > 0) update.$unset = unset;
  return update;
}

/** Reads a task document, ours or one Celery wrote (JSON text or, with its bson serializer, native). */
export function decodeTask(doc: TaskDocument, resultExpires: number | null): TaskRecord {
  const record = pendingRecord(doc._id);
  record.status = typeof doc.status === "string" ? doc.status : "PENDING";
  record.result =
    typeof doc.result === "string" ? decodeJson(doc.result) : fromBson(doc.result ?? null);
  record.traceback = typeof doc.traceback === "string" ? doc.traceback : null;
  const children =
    typeof doc.children === "string" ? decodeJson(doc.children) : fromBson(doc.children);
  record.children = Array.isArray(children) ? children : null;
  // A BSON date since Celery 5.3.4, ISO text before.
  record.dateDone = parseCeleryDate(doc.date_done);
  record.groupId = typeof doc.group_id === "string" ? doc.group_id : null;
  record.parentId = typeof doc.parent_id === "string" ? doc.parent_id : null;
  record.name = typeof doc.name === "string" ? doc.name : null;
  record.args = Array.isArray(doc.args) ? (fromBson(doc.args) as unknown[]) : null;
  record.kwargs = isPlainObject(doc.kwargs)
    ? (fromBson(doc.kwargs) as Record<string, unknown>)
    : null;
  record.worker = typeof doc.worker === "string" ? doc.worker : null;
  record.retries =
    typeof doc.retries === "number"
      ? doc.retries
      : doc.retries instanceof Long
        ? doc.retries.toNumber()
        : null;
  record.queue = typeof doc.queue === "string" ? doc.queue : null;
  record.metadata = isPlainObject(doc.metadata)
    ? (fromBson(doc.metadata) as Record<string, unknown>)
    : {};
  record.expiresAt = expiresAt(doc, record.dateDone, resultExpires);
  return record;
}

/** Celery's group document: the member ids as JSON text of a flat list (or native, with bson). */
export function encodeGroup(group: GroupRecord, serializer: MongoResultSerializer): Document {
  const ids = group.taskIds;
  return {
    $set: {
      result: serializer === "bson" ? ids : encodeJson(ids),
      date_done: group.dateDone,
      [EXPIRES_FIELD]: group.expiresAt,
    },
  };
}

export function decodeGroup(doc: TaskDocument, resultExpires: number | null): GroupRecord {
  const value = typeof doc.result === "string" ? decodeJson(doc.result) : doc.result;
  const dateDone = parseCeleryDate(doc.date_done) ?? new Date(0);
  return {
    groupId: doc._id,
    taskIds: taskIdsFromGroupValue(value),
    dateDone,
    expiresAt: expiresAt(doc, dateDone, resultExpires),
  };
}

/** Our `expires_at`; for Celery's documents (none stored) `date_done + result_expires`, as its cleanup. */
function expiresAt(
  doc: Document,
  dateDone: Date | null,
  resultExpires: number | null,
): Date | null {
  if (EXPIRES_FIELD in doc) return doc[EXPIRES_FIELD] instanceof Date ? doc[EXPIRES_FIELD] : null;
  if (!dateDone || resultExpires === null) return null;
  return new Date(dateDone.getTime() + resultExpires * 1000);
}
