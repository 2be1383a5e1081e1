/**
 * Celery's MongoDB document layout (CELERY-COMPAT.md §5) both ways. Documents are keyed by the bare
 * id: each kind (task, group, counter, set) has its own collection, so no key prefix is needed.
 */
import type { GroupRecord, TaskRecord, TaskWrite } from "@resultstore/core";
import { decodeJson, EncodeError, encodeJson, PyDecimal, PyUUID } from "@resultstore/core";
import { isPlainObject, parseCeleryDate, taskIdsFromGroupValue } from "@resultstore/core/backend";
import { Binary, Decimal128, type Document, Long } from "mongodb";
import type { MongoResultSerializer } from "./types.js";

/** Our own field beside Celery's: when the record expires (a BSON date, or null for never). */
export const EXPIRES_FIELD = "expires_at";
/**
 * Our field holding when a task document was last written (core's `updatedAt`, a BSON date):
 * `find`'s time. Celery's documents have none; theirs is `date_done` (see find.ts).
 */
export const UPDATED_FIELD = "updated_at";
/** Our field naming the call that wrote a task document last (core's `writeId`). */
export const WRITE_ID_FIELD = "write_id";
/** Celery's `result_extended` fields: its reader indexes all six, so each is always present. */
const EXTENDED_FIELDS = ["name", "args", "kwargs", "worker", "retries", "queue"] as const;

export type TaskDocument = Document & { _id: string };
type Dict = Record<string, unknown>;

/**
 * How values are laid out for the engine at hand. FerretDB 1.x lacks all three features: an array
 * in an array (Celery's nested `children` go as JSON text there), nulls in `$setOnInsert` (they go
 * in `$max`, see `encodeTask`), and Decimal128 (it closes the connection on one).
 */
export type Layout = { serializer: MongoResultSerializer } & Record<Feature, boolean>;
type Feature = "nestedArrays" | "insertsNulls" | "decimal128";

/**
 * Documents expired at `now`: our `expires_at` has passed, or — for documents Celery wrote, which
 * have none — `date_done` is older than Celery's `result_expires` (what its own cleanup deletes).
 */
export function expiredFilter(now: Date, resultExpires: number | null): Document {
  const ours = { [EXPIRES_FIELD]: { $lte: now } };
  if (resultExpires === null) return ours;
  const old = { $lt: new Date(now.getTime() - resultExpires * 1000) };
  return { $or: [ours, { [EXPIRES_FIELD]: { $exists: false }, date_done: old }] };
}

/**
 * The update that merges `write`: `$set` on the fields it carries (metadata key by key: core refuses
 * `.` and `$` in its keys), `$setOnInsert` nulls for those a new document would lack. EncodeError
 * before anything is sent.
 */
export function encodeTask(write: TaskWrite, layout: Layout): Document {
  const bson = layout.serializer === "bson";
  const set: Document = {
    status: write.status,
    result: bson ? toBson(decodeJson(write.resultJson), layout.decimal128) : write.resultJson,
    traceback: write.traceback,
    date_done: write.dateDone,
    [UPDATED_FIELD]: write.updatedAt,
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
    // `$max` sets a missing field and never replaces a stored one (null sorts below every other
    // BSON value), so a new document still gets its nulls in the same round trip.
    const nulls = Object.keys(setOnInsert).filter((field) => setOnInsert[field] === null);
    for (const field of nulls) delete setOnInsert[field];
    if (nulls.length > 0) update.$max = Object.fromEntries(nulls.map((field) => [field, null]));
  }
  if (Object.keys(unset).length > 0) update.$unset = unset;
  return update;
}

/** Reads a task document, ours or one Celery wrote (JSON text or, with its bson serializer, native). */
export function decodeTask(doc: TaskDocument, resultExpires: number | null): TaskRecord {
  const children =
    typeof doc.children === "string" ? decodeJson(doc.children) : fromBson(doc.children);
  const retries = doc.retries instanceof Long ? doc.retries.toNumber() : doc.retries;
  const dateDone = parseCeleryDate(doc.date_done); // a BSON date since Celery 5.3.4, ISO text before
  return {
    taskId: doc._id,
    status: text(doc.status) ?? "PENDING",
    result: typeof doc.result === "string" ? decodeJson(doc.result) : fromBson(doc.result ?? null),
    traceback: text(doc.traceback),
    children: Array.isArray(children) ? children : null,
    dateDone,
    updatedAt: doc[UPDATED_FIELD] instanceof Date ? doc[UPDATED_FIELD] : null, // null: Celery wrote it
    groupId: text(doc.group_id),
    parentId: text(doc.parent_id),
    name: text(doc.name),
    args: Array.isArray(doc.args) ? (fromBson(doc.args) as unknown[]) : null,
    kwargs: isPlainObject(doc.kwargs) ? (fromBson(doc.kwargs) as Dict) : null,
    worker: text(doc.worker),
    retries: typeof retries === "number" ? retries : null,
    queue: text(doc.queue),
    metadata: isPlainObject(doc.metadata) ? (fromBson(doc.metadata) as Dict) : {},
    expiresAt: expiresAt(doc, dateDone, resultExpires),
  };
}

/** Celery's group document: the member ids as JSON text of a flat list (or native, with bson). */
export function encodeGroup(group: GroupRecord, serializer: MongoResultSerializer): Document {
  const result = serializer === "bson" ? group.taskIds : encodeJson(group.taskIds);
  return { $set: { result, date_done: group.dateDone, [EXPIRES_FIELD]: group.expiresAt } };
}

export function decodeGroup(doc: TaskDocument, resultExpires: number | null): GroupRecord {
  const value = typeof doc.result === "string" ? decodeJson(doc.result) : doc.result;
  const dateDone = parseCeleryDate(doc.date_done) ?? new Date(0);
  const expires = expiresAt(doc, dateDone, resultExpires);
  return { groupId: doc._id, taskIds: taskIdsFromGroupValue(value), dateDone, expiresAt: expires };
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** Our `expires_at`; for Celery's documents (none stored) `date_done + result_expires`, as its cleanup. */
function expiresAt(doc: Document, dateDone: Date | null, resultExpires: number | null) {
  if (EXPIRES_FIELD in doc) return doc[EXPIRES_FIELD] instanceof Date ? doc[EXPIRES_FIELD] : null;
  if (!dateDone || resultExpires === null) return null;
  return new Date(dateDone.getTime() + resultExpires * 1000);
}

/**
 * Throws EncodeError for an object key that MongoDB-wire servers would read as an operator or a
 * path (leading `$`, `.`) or cannot hold (NUL). MongoDB 5+ stores some in inserts, but not through
 * `$set`, and FerretDB or DocumentDB not at all, so they are refused before anything is sent.
 */
function assertStorableKeys(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) assertStorableKeys(item, `${path}[${i}]`);
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (key.startsWith("$") || key.includes(".") || key.includes("\u0000"))
        throw new EncodeError(
          `Key ${JSON.stringify(key)} at ${path} cannot be stored in MongoDB (leading "$", "." or NUL).`,
        );
      assertStorableKeys(item, `${path}.${key}`);
    }
  }
}

/**
 * A decoded Celery value as native BSON (`resultSerializer: "bson"`, as pymongo stores it): dates,
 * binary, Int64 or Decimal128; kombu's marker for what BSON has no exact form of (Decimal, UUID…).
 */
function toBson(value: unknown, decimal128: boolean, path = "result"): unknown {
  if (typeof value === "bigint") {
    if (BigInt.asIntN(64, value) === value) return Long.fromBigInt(value);
    const digits = value.toString();
    const limit = decimal128 ? "Decimal128's 34 digits" : "this server has no Decimal128";
    if (!decimal128 || digits.replace("-", "").length > 34)
      throw new EncodeError(`Integer at ${path} is beyond Int64 and ${limit}.`);
    return Decimal128.fromString(digits);
  }
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (value instanceof Uint8Array) return new Binary(value);
  if (Array.isArray(value))
    return value.map((item, i) => toBson(item, decimal128, `${path}[${i}]`));
  if (!isPlainObject(value)) return JSON.parse(encodeJson(value)); // kombu's marker for the type
  assertStorableKeys(value, path);
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, toBson(item, decimal128, `${path}.${key}`)]),
  );
}

/** The inverse of `toBson`, also for what pymongo stores with Celery's `bson` serializer. */
function fromBson(value: unknown): unknown {
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (value instanceof Long) {
    const number = value.toNumber();
    return Number.isSafeInteger(number) ? number : value.toBigInt();
  }
  if (value instanceof Decimal128) {
    const digits = value.toString();
    return /^-?\d+$/.test(digits) ? BigInt(digits) : new PyDecimal(digits);
  }
  if (value instanceof Binary) {
    const bytes = Buffer.from(value.buffer);
    return value.sub_type === Binary.SUBTYPE_UUID ? new PyUUID(bytes.toString("hex")) : bytes;
  }
  if (Array.isArray(value)) return value.map(fromBson);
  if (!isPlainObject(value)) return value; // ObjectId and other BSON-only types, as the driver gives them
  const keys = Object.keys(value);
  if (keys.length === 2 && "__type__" in value && "__value__" in value)
    return decodeJson(JSON.stringify(value));
  return Object.fromEntries(keys.map((key) => [key, fromBson(value[key])]));
}
