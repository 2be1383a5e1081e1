/**
 * Rows ↔ records, and the CQL. Celery keys its rows by the bare task id (CELERY-COMPAT.md §5) and
 * each kind has a table of its own, so ids and keys are stored as given: no `CeleryKeys` here.
 */
import {
  ConfigurationError,
  decodeJson,
  encodeJson,
  type GroupRecord,
  isReady,
  type TaskRecord,
  type TaskWrite,
} from "@resultstore/core";
import {
  groupTuple,
  isPlainObject,
  pendingRecord,
  REQUEST_FIELDS,
  readOptionalMetaFields,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";
import cassandra from "cassandra-driver";
import { BACKEND_NAME, qualified, type TableNames } from "./config.js";

type Row = cassandra.types.Row;

/** Cassandra's largest TTL: 20 years. */
const MAX_TTL_SECONDS = 630_720_000;

/**
 * Our static columns a read decodes (see client.ts STATIC_COLUMNS), and the write times that tell
 * whether the row is the one our write put there with them (see `isOurRow`).
 */
export const STATICS_READ =
  "rs_meta, rs_expires_at, rs_updated_at, WRITETIME(status) AS row_written, WRITETIME(rs_updated_at) AS find_written";

/**
 * Whether `row` was written by our batch, which gives the row and the static columns one write
 * time; a row Celery's own backend inserted later (a mixed fleet) has its own, and then our
 * `rs_updated_at` and `rs_state` speak of an older state.
 */
export function isOurRow(row: Row): boolean {
  const statics = row.get("find_written") as cassandra.types.Long | null | undefined;
  const rowWritten = row.get("row_written") as cassandra.types.Long | null | undefined;
  // Long.equals, not String(): a Long's decimal text costs divisions, on every read.
  return !!statics && !!rowWritten && statics.equals(rowWritten);
}
/** Every static column a write sets, the find columns among them (one Paxos batch carries all). */
const STATICS_SET =
  "rs_version = ?, rs_token = ?, rs_meta = ?, rs_expires_at = ?, rs_updated_at = ?, rs_state = ?, rs_name = ?, rs_find = ?";

/**
 * The longest name, and metadata key plus value, we index: SAI logs a warning per term above
 * 1 KiB and, above 8 KiB, leaves the term out of its index without a word (measured on 5.0.9: the
 * write succeeds, and a query for a 9,000-byte name finds nothing). Longer ones are not indexed,
 * and `find` matches them in the client (find.ts).
 */
export const MAX_INDEXED_TERM_BYTES = 1000;

/** Whether `terms` together fit one SAI term. */
export const indexable = (...terms: string[]) =>
  terms.reduce((bytes, term) => bytes + Buffer.byteLength(term), 0) <= MAX_INDEXED_TERM_BYTES;

/** `rs_find`: each scalar metadata value as its Celery JSON, so 42 and "42" differ; null if none. */
export function findTokens(metadata: Record<string, unknown>): Record<string, string> | null {
  const tokens: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (!["string", "number", "boolean"].includes(typeof value)) continue;
    const token = encodeJson(value);
    if (indexable(key, token)) tokens[key] = token;
  }
  return Object.keys(tokens).length > 0 ? tokens : null;
}

/** Every CQL text the backend runs; names are validated identifiers, values are always bound. */
export function statements(names: TableNames) {
  const tasks = qualified(names, "tasks");
  const groups = qualified(names, "groups");
  const counters = qualified(names, "counters");
  const sets = qualified(names, "sets");
  return {
    readTask: `SELECT status, result, date_done, traceback, children, ${STATICS_READ}, TTL(status) AS ttl FROM ${tasks} WHERE task_id = ? LIMIT 1`,
    /** `readTask` for many ids: the newest row of each partition. */
    readTasks: `SELECT task_id, status, result, date_done, traceback, children, ${STATICS_READ}, TTL(status) AS ttl FROM ${tasks} WHERE task_id IN ? PER PARTITION LIMIT 1`,
    /** Which row is each partition's newest (find checks that a row it found is current). */
    newestRows: `SELECT task_id, date_done FROM ${tasks} WHERE task_id IN ? PER PARTITION LIMIT 1`,
    /** What the guard needs: no result or traceback, which may be megabytes. */
    readGuard: `SELECT status, date_done, children, rs_version, rs_token, ${STATICS_READ}, TTL(status) AS ttl FROM ${tasks} WHERE task_id = ? LIMIT 1`,
    guardedStatics: `UPDATE ${tasks} USING TTL ? SET ${STATICS_SET} WHERE task_id = ? IF rs_version = ? AND rs_token = ?`,
    plainStatics: `UPDATE ${tasks} USING TTL ? SET ${STATICS_SET} WHERE task_id = ?`,
    insertRow: `INSERT INTO ${tasks} (task_id, date_done, status, result, traceback, children) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?`,
    deleteRow: `DELETE FROM ${tasks} WHERE task_id = ? AND date_done = ?`,
    deleteTask: `DELETE FROM ${tasks} WHERE task_id = ?`,
    saveGroup: `INSERT INTO ${groups} (group_id, result, date_done, expires_at) VALUES (?, ?, ?, ?) USING TTL ?`,
    readGroup: `SELECT result, date_done, expires_at FROM ${groups} WHERE group_id = ?`,
    deleteGroup: `DELETE FROM ${groups} WHERE group_id = ?`,
    readCounter: `SELECT value, expires_at FROM ${counters} WHERE key = ?`,
    createCounter: `INSERT INTO ${counters} (key, value, expires_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?`,
    updateCounter: `UPDATE ${counters} USING TTL ? SET value = ?, expires_at = ? WHERE key = ? IF value = ? AND expires_at = ?`,
    deleteCounter: `DELETE FROM ${counters} WHERE key = ?`,
    readSet: `SELECT members FROM ${sets} WHERE key = ?`,
    /** Adds or refreshes members: a map of member → the set's expiry; idempotent, no Paxos. */
    addToSet: `UPDATE ${sets} USING TTL ? SET members = members + ? WHERE key = ?`,
  };
}

export type Statements = ReturnType<typeof statements>;

/**
 * The TTL that drops data at `expiresAt`'s second, never before: Cassandra expires at its current
 * whole second + TTL, so count from the whole second and round the expiry up. 0 is no TTL.
 */
export function ttlSeconds(expiresAt: Date | null, now = Date.now()): number {
  if (!expiresAt) return 0;
  const ttl = Math.ceil(expiresAt.getTime() / 1000) - Math.floor(now / 1000);
  if (ttl > MAX_TTL_SECONDS)
    throw new ConfigurationError(
      BACKEND_NAME,
      `Expiry ${expiresAt.toISOString()} is beyond Cassandra's 20-year TTL limit.`,
    );
  return Math.max(1, ttl);
}

const json = (value: unknown): Buffer => Buffer.from(encodeJson(value), "utf8");
/** Decoded from the driver's Buffer as text: core copies a byte array before decoding it. */
const fromJson = (blob: Buffer | null | undefined): unknown =>
  blob ? decodeJson(blob.toString("utf8")) : null;

/**
 * The batch that writes `next` over `row` (what the guard read): our static columns (`IF` the guard
 * columns are unchanged, when `guarded`), the delete of the row it supersedes, and the new row.
 */
export function encodeWrite(
  cql: Statements,
  guarded: boolean,
  write: TaskWrite,
  next: TaskRecord,
  row: Row | undefined,
  now: number,
): { query: string; params: unknown[] }[] {
  const ttl = ttlSeconds(next.expiresAt, now);
  const version = (row?.get("rs_version") as number | null | undefined) ?? null;
  const token = (row?.get("rs_token") as cassandra.types.Uuid | null | undefined) ?? null;
  // A partition may hold our static columns without a Celery row: then there is none to delete.
  const superseded = row?.get("status") ? (row.get("date_done") as Date) : null;
  // The new row must sort first (Celery reads the newest): never at or before the one it replaces.
  const rowTime = Math.max(next.dateDone?.getTime() ?? now, (superseded?.getTime() ?? 0) + 1);
  const meta = encodeStaticMeta(next, write.writeId);
  const name = next.name !== null && indexable(next.name) ? next.name : null;
  const find = [next.updatedAt, next.status, name, findTokens(next.metadata)];
  const statics = [
    ttl,
    (version ?? 0) + 1,
    cassandra.types.Uuid.random(),
    meta,
    next.expiresAt,
    ...find,
  ];
  const queries = [
    guarded
      ? { query: cql.guardedStatics, params: [...statics, write.taskId, version, token] }
      : { query: cql.plainStatics, params: [...statics, write.taskId] },
  ];
  if (superseded) queries.push({ query: cql.deleteRow, params: [write.taskId, superseded] });
  const result = Buffer.from(write.resultJson, "utf8");
  const celery = [next.status, result, json(next.traceback), json(next.children), ttl];
  queries.push({ query: cql.insertRow, params: [write.taskId, new Date(rowTime), ...celery] });
  return queries;
}

/** `rs_meta`: `write_id` (a write re-sent after it landed knows itself) and fields Celery lacks. */
function encodeStaticMeta(record: TaskRecord, writeId: string | undefined): Buffer {
  const meta: Record<string, unknown> = writeId ? { write_id: writeId } : {};
  if (Object.keys(record.metadata).length > 0) meta.metadata = record.metadata;
  for (const field of REQUEST_FIELDS) {
    const value = record[field];
    // groupId → group_id, parentId → parent_id: Celery's names for them.
    if (value !== null && value !== undefined) meta[field.replace("Id", "_id")] = value;
  }
  return json(meta);
}

/** The record a `readTask` row (or `readGuard`'s, without result and traceback) holds, or null. */
export function decodeTask(row: Row | null | undefined, taskId: string, now = Date.now()) {
  const status = row?.get("status") as string | null | undefined;
  if (!row || !status) return null;
  const record = pendingRecord(taskId);
  record.status = status;
  record.result = fromJson(row.get("result"));
  const traceback = fromJson(row.get("traceback"));
  record.traceback = typeof traceback === "string" ? traceback : null;
  const children = fromJson(row.get("children"));
  record.children = Array.isArray(children) ? children : null;
  // Celery stamps every row with date_done, STARTED included; a record has it when ready only.
  record.dateDone = isReady(status) ? (row.get("date_done") as Date) : null;
  // Our expiry to the millisecond, else (a row Celery wrote) what its TTL says.
  const ttl = row.get("ttl") as number | null;
  record.expiresAt = row.get("rs_expires_at") ?? (ttl ? new Date(now + ttl * 1000) : null);
  // Null on Celery's rows, on ours written before find existed, and under a later Celery row.
  record.updatedAt = isOurRow(row) ? (row.get("rs_updated_at") as Date) : null;
  const meta = fromJson(row.get("rs_meta"));
  if (isPlainObject(meta)) readOptionalMetaFields(record, meta);
  return record;
}

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
