/**
 * `find` and `countByState` on SAI indexes (README: "Finding tasks"). Cassandra orders only inside
 * a partition, and a task is a partition: the server selects, the client orders. Each call pages
 * through every match of its SAI query once (light columns, no result or traceback) and keeps the
 * best `limit` in a PageCollector; the page is then read in full. Two queries select:
 * - ours: the static find columns (state, name, metadata tokens, updated_at), PER PARTITION LIMIT 1
 *   so each partition answers with its newest row (a static condition holds for all its rows),
 *   kept when that row is our write's (`isOurRow`);
 * - Celery's, only when no name or metadata is asked for (Celery stores neither): `status` and
 *   `date_done` on the rows, kept when the row is not ours and is its partition's newest (Celery
 *   inserts a row per state and never deletes the older ones). Our records written before find
 *   existed, and ours that Celery's own backend wrote over, are found by this one.
 */
import {
  BackendError,
  type CountQuery,
  encodeJson,
  type FindQuery,
  type TaskRecord,
  type TaskState,
} from "@resultstore/core";
import {
  chunks,
  matchesCountQuery,
  matchesFindQuery,
  PageCollector,
} from "@resultstore/core/backend";
import type cassandra from "cassandra-driver";
import { BACKEND_NAME, qualified, type TableNames } from "./config.js";
import { decodeTask, indexable, isOurRow, STATICS_READ, type Statements } from "./records.js";

type Row = cassandra.types.Row;

/** The SAI indexes find needs: name suffix → indexed column (client.ts creates them). */
export const FIND_INDEX_COLUMNS = {
  state: "rs_state",
  name: "rs_name",
  updated: "rs_updated_at",
  metadata: "ENTRIES(rs_find)",
  celery_state: "status",
  celery_time: "date_done",
} as const;

/** The CREATE INDEX statements of the task table, each named `<table>_find_<suffix>`. */
export function findIndexes(names: TableNames): string[] {
  return Object.entries(FIND_INDEX_COLUMNS).map(
    ([suffix, column]) =>
      `CREATE INDEX IF NOT EXISTS "${names.tasks}_find_${suffix}" ON ${qualified(names, "tasks")} (${column}) USING 'sai'`,
  );
}

/** Ids per `IN` of the newest-row check, as `readMany` reads them. */
const IDS_PER_READ = 100;
/** Rows per page of an SAI query. */
const FETCH_SIZE = 500;
/** The earliest timestamp: a bound that selects every row of an index on a time. */
const EARLIEST = new Date(-8_640_000_000_000_000);

/** What find and count need from the client: the store's guarded executor and reads. */
export interface FindContext {
  client: cassandra.Client;
  names: TableNames;
  cql: Statements;
  options: cassandra.QueryOptions;
  readMany: (taskIds: string[]) => Promise<(TaskRecord | null)[]>;
}

/** One SAI query: conditions and their values; `celery` for the query of Celery's rows. */
interface Select {
  where: string[];
  params: unknown[];
  celery: boolean;
}

export async function findTasks(context: FindContext, query: FindQuery): Promise<TaskRecord[]> {
  const collector = new PageCollector(query);
  const states = query.states ?? [undefined];
  for (const state of states)
    await scan(context, selects(query, state, timeBounds(query)), (record) =>
      collector.offer(record),
    );
  // The page was chosen on light rows: read it in full, and keep what still belongs.
  const light = collector.page();
  const full = await context.readMany(light.map((record) => record.taskId));
  return full.filter((record): record is TaskRecord => !!record && matchesFindQuery(record, query));
}

export async function countTasks(
  context: FindContext,
  query: CountQuery,
): Promise<Record<TaskState, number>> {
  const counts: Record<TaskState, number> = {};
  await scan(context, selects(query, undefined, countBounds(query)), (record) => {
    if (matchesCountQuery(record, query)) counts[record.status] = (counts[record.status] ?? 0) + 1;
  });
  return counts;
}

/** An inclusive range of effective times (ms), or null when nothing can match. */
type Bounds = { low?: number; high?: number } | null;

function countBounds(query: CountQuery): Bounds {
  const low = query.after?.getTime();
  const high = query.before ? query.before.getTime() - 1 : undefined;
  return low !== undefined && high !== undefined && low > high ? null : { low, high };
}

/** The time range `find` may find a record in: the filter, the snapshot and the previous page. */
function timeBounds(query: FindQuery): Bounds {
  const range = countBounds(query);
  if (!range) return null;
  let { low, high } = range;
  high = Math.min(high ?? Number.POSITIVE_INFINITY, query.asOf.getTime());
  const last = query.startAfter?.time?.getTime();
  if (last !== undefined && query.order === "newest") high = Math.min(high, last);
  if (last !== undefined && query.order === "oldest") low = Math.max(low ?? last, last);
  return low !== undefined && low > high ? null : { low, high };
}

/** The queries for one state (or all): ours, and Celery's unless the query needs our fields. */
function selects(query: CountQuery, state: string | undefined, bounds: Bounds): Select[] {
  if (!bounds) return [];
  const ours: Select = { where: [], params: [], celery: false };
  const add = (select: Select, condition: string, ...params: unknown[]) => {
    select.where.push(condition);
    select.params.push(...params);
  };
  if (state !== undefined) add(ours, "rs_state = ?", state);
  if (query.name !== undefined && indexable(query.name)) add(ours, "rs_name = ?", query.name);
  for (const [key, value] of query.metadata ?? []) {
    const token = encodeJson(value);
    if (indexable(key, token)) add(ours, "rs_find[?] = ?", key, token);
  }
  const range = (select: Select, column: string) => {
    add(select, `${column} >= ?`, new Date(bounds.low ?? EARLIEST.getTime()));
    if (bounds.high !== undefined) add(select, `${column} <= ?`, new Date(bounds.high));
  };
  // The time range goes to the server only where it narrows (a time filter, or past the previous
  // page), or as the one condition of a query with none: SAI intersects the rows each condition
  // matches, and `>= earliest AND <= asOf` matches every row (100k records, state + metadata:
  // 167 ms with it, ~35 ms without; bench/NOTES.md, "Find at scale"). The collector checks the
  // snapshot anyway.
  const narrows =
    query.after !== undefined ||
    query.before !== undefined ||
    (query as Partial<FindQuery>).startAfter !== undefined;
  if (narrows || ours.where.length === 0) range(ours, "rs_updated_at");
  if (query.name !== undefined || query.metadata?.length) return [ours];
  const celery: Select = { where: [], params: [], celery: true };
  if (state !== undefined) add(celery, "status = ?", state);
  // Celery's unready rows have a date_done but no effective time: a time filter excludes them,
  // so only with one may date_done narrow; else every row is read (README: the cost).
  if (query.after !== undefined || query.before !== undefined) range(celery, "date_done");
  else if (state === undefined) add(celery, "date_done >= ?", EARLIEST);
  return [ours, celery];
}

/** Pages through each query, offering each current record (light: no result nor traceback). */
async function scan(context: FindContext, queries: Select[], visit: (r: TaskRecord) => void) {
  const { client, names, cql, options } = context;
  for (const { where, params, celery } of queries) {
    const statement =
      `SELECT task_id, status, date_done, children, ${STATICS_READ}, TTL(status) AS ttl ` +
      `FROM ${qualified(names, "tasks")} WHERE ${where.join(" AND ")}` +
      (celery ? "" : " PER PARTITION LIMIT 1");
    let pageState: string | undefined;
    do {
      const page = await client
        .execute(statement, params, { ...options, prepare: true, fetchSize: FETCH_SIZE, pageState })
        .catch((error: Error) => Promise.reject(missingIndex(error, names)));
      pageState = page.pageState ?? undefined;
      // Each record is found by one query: ours while our write is its newest row, else Celery's.
      const rows = page.rows.filter((row) => isOurRow(row) !== celery);
      const current = celery ? await newestOnly(client, cql, options, rows) : rows;
      for (const row of current) {
        const record = decodeTask(row, String(row.get("task_id")));
        if (record) visit(record);
      }
    } while (pageState);
  }
}

/** The rows that are their partition's newest (the one every read answers with). */
async function newestOnly(
  client: cassandra.Client,
  cql: Statements,
  options: cassandra.QueryOptions,
  rows: Row[],
): Promise<Row[]> {
  if (rows.length === 0) return [];
  const ids = chunks([...new Set(rows.map((row) => String(row.get("task_id"))))], IDS_PER_READ);
  const read = (batch: string[]) =>
    client.execute(cql.newestRows, [batch], { ...options, prepare: true });
  const found = (await Promise.all(ids.map(read))).flatMap((result) => result.rows);
  const newest = new Map(
    found.map((row) => [String(row.get("task_id")), (row.get("date_done") as Date).getTime()]),
  );
  return rows.filter(
    (row) => newest.get(String(row.get("task_id"))) === (row.get("date_done") as Date).getTime(),
  );
}

/** A query refused for want of an index: the operator has not created them (createTables: false). */
function missingIndex(error: Error, names: TableNames): Error {
  // Without an index Cassandra asks for ALLOW FILTERING; one still building is "not queryable".
  if (!/ALLOW FILTERING|index .*(building|not (yet )?(available|queryable))/i.test(error.message))
    return error;
  return new BackendError(
    BACKEND_NAME,
    `find needs the SAI indexes on ${names.keyspace}.${names.tasks} (README: "Finding tasks"): ${error.message}`,
    { cause: error },
  );
}
