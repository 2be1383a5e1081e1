/**
 * `find` and `countByState` as Cosmos DB SQL (README "Finding tasks"). Our documents carry
 * `updated_at`, `status`, `name` and `metadata` as properties: one parameterized query filters,
 * orders (a composite index) and limits them, paging by keyset (`startAfter`), never by a
 * continuation token kept between calls. Documents in Celery's own layout (`{id, value}`, no
 * `updated_at`) hold the state, name and time only inside the `value` string, which no index or
 * ORDER BY can read: they are scanned apart, prefiltered on that string, and matched and ordered
 * in the client with core's rules.
 */
import type { CompositePath, Container, QueryIterator, SqlParameter } from "@azure/cosmos";
import {
  BackendError,
  type CountQuery,
  encodeJson,
  type FindQuery,
  type TaskRecord,
  type TaskState,
} from "@resultstore/core";
import {
  CHORD_CLAIM_KEY_PREFIX,
  firstInOrder,
  matchesCountQuery,
  PageCollector,
} from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";
import { errors } from "./errors.js";
import { decodeTask, keys, type StoredDocument, UPDATED_FIELD } from "./records.js";

const path = (name: string, order: CompositePath["order"]) => ({ path: `/${name}`, order });
/**
 * The composite indexes `find`'s two-property ORDER BYs need: (time, id) without a state filter,
 * (status, time, id) for one state. Cosmos DB serves an ORDER BY from an index in the same or the
 * exactly reversed directions, so the ascending pair is enough there; the local test server only
 * serves the same directions, so both are created.
 */
export const FIND_INDEXES: CompositePath[][] = (["ascending", "descending"] as const).flatMap(
  (order) => [
    [path(UPDATED_FIELD, order), path("id", order)],
    [path("status", order), path(UPDATED_FIELD, order), path("id", order)],
  ],
);

/** Documents a scan of Celery's layout reads per request (continuation within one call). */
const SCAN_PAGE = 100;
/** A state's prefix in `value`: kombu writes `status` first, with `", "` and `": "` separators. */
const statusPrefix = (state: string) => `{"status": ${encodeJson(state)}, `;

/** A parameterized WHERE clause under construction: user values only ever go in `parameters`. */
class Where {
  readonly conditions: string[] = [];
  readonly parameters: SqlParameter[] = [];

  /** A new parameter holding `value`; its name, for the condition's text. */
  param(value: SqlParameter["value"]): string {
    const name = `@p${this.parameters.length}`;
    this.parameters.push({ name, value });
    return name;
  }

  add(condition: string): this {
    this.conditions.push(condition);
    return this;
  }

  text(): string {
    return this.conditions.map((condition) => `(${condition})`).join(" AND ");
  }
}

/** What both kinds of task document must satisfy: a task, no chord claim, live, its metadata. */
function common(query: CountQuery): Where {
  const where = new Where();
  where.add(`STARTSWITH(c.id, ${where.param(keys.task(""))})`);
  where.add(`NOT STARTSWITH(c.id, ${where.param(keys.task(CHORD_CLAIM_KEY_PREFIX))})`);
  // Expired documents Cosmos's TTL has not deleted yet (or never will: a container without TTL).
  where.add(`NOT IS_NUMBER(c.expires_at) OR c.expires_at > ${where.param(query.now.getTime())}`);
  // `=` compares type and value: 42 is not "42", and an array never equals a scalar.
  for (const [key, value] of query.metadata ?? [])
    where.add(`c.metadata[${where.param(key)}] = ${where.param(value)}`);
  return where;
}

/** Our documents (`updated_at` a number) that `query` selects, time range included. */
function ours(query: CountQuery): Where {
  const where = common(query);
  const time = `c.${UPDATED_FIELD}`;
  where.add(`IS_NUMBER(${time})`);
  if (query.name !== undefined) where.add(`c.name = ${where.param(query.name)}`);
  if (query.after) where.add(`${time} >= ${where.param(query.after.getTime())}`);
  if (query.before) where.add(`${time} < ${where.param(query.before.getTime())}`);
  return where;
}

/**
 * Documents in Celery's layout, narrowed by what `value`'s text can say exactly (the state: the
 * first key) or loosely (the name's key and value somewhere in it); the client decides the rest.
 */
function celerys(query: CountQuery, states?: readonly TaskState[]): Where {
  const where = common(query).add(`NOT IS_DEFINED(c.${UPDATED_FIELD})`);
  if (states) {
    const prefixes = states.map(
      (state) => `STARTSWITH(c["value"], ${where.param(statusPrefix(state))})`,
    );
    where.add(prefixes.join(" OR "));
  }
  if (query.name !== undefined)
    where.add(`CONTAINS(c["value"], ${where.param(`"name": ${encodeJson(query.name)}`)})`);
  return where;
}

/**
 * Whether documents in Celery's layout can match `query`: not with a metadata filter, since
 * they have no `metadata` property (ours keeps it beside `value`, never inside) and `common`'s
 * condition on it is false for every one of them. Their scan is then skipped: no index serves it
 * (the local server reads every document for it).
 */
const celerysMayMatch = (query: CountQuery) => !query.metadata?.length;

/** Up to `query.limit` matches: ours from the index in order, Celery's scanned, merged. */
export async function findTasks(container: Container, query: FindQuery): Promise<TaskRecord[]> {
  const [found, scanned] = await Promise.all([
    findOurs(container, query),
    celerysMayMatch(query) ? scanCelerys(container, query) : [],
  ]);
  return firstInOrder([...found, ...scanned], query);
}

/** One query: filtered, ordered by (time, id) in `query.order`, past `startAfter`, `TOP limit`. */
async function findOurs(container: Container, query: FindQuery): Promise<TaskRecord[]> {
  const where = ours(query);
  const time = `c.${UPDATED_FIELD}`;
  // `past`: the comparison that holds for what comes after a position in this order.
  const [direction, past] = query.order === "newest" ? ["DESC", "<"] : ["ASC", ">"];
  const { states, startAfter } = query;
  if (states?.length === 1) where.add(`c.status = ${where.param(states[0] as string)}`);
  else if (states) where.add(`c.status IN (${states.map((s) => where.param(s)).join(", ")})`);
  // Our documents always have a time, so none of them is a timeless record the snapshot lets in.
  where.add(`${time} <= ${where.param(query.asOf.getTime())}`);
  if (startAfter?.time) {
    const [t, id] = [
      where.param(startAfter.time.getTime()),
      where.param(keys.task(startAfter.taskId)),
    ];
    where.add(`${time} ${past} ${t} OR (${time} = ${t} AND c.id ${past} ${id})`);
  } else if (startAfter && query.order === "newest") {
    return []; // past a position without a time, newest first, only timeless records remain
  }
  // With one state, ORDER BY starts with the status its filter fixes: the (status, time, id) index.
  const orderBy = [...(states?.length === 1 ? ["c.status"] : []), time, "c.id"]
    .map((property) => `${property} ${direction}`)
    .join(", ");
  const text = `SELECT TOP ${where.param(query.limit)} * FROM c WHERE ${where.text()} ORDER BY ${orderBy}`;
  // One response holds the whole page (up to Cosmos DB's 4 MB per response).
  const page = container.items.query<StoredDocument>(
    { query: text, parameters: where.parameters },
    { maxItemCount: query.limit },
  );
  const { resources } = await guard("find of tasks", () => page.fetchAll());
  return resources.map((doc) => decodeTask(doc, taskIdOf(doc)));
}

/** Celery's documents, read a page at a time and kept only as far as the page needs. */
async function scanCelerys(container: Container, query: FindQuery): Promise<TaskRecord[]> {
  const collector = new PageCollector(query);
  await scan(container, "find of tasks", celerys(query, query.states), (doc) =>
    collector.offer(decodeTask(doc, taskIdOf(doc))),
  );
  return collector.page();
}

/**
 * A count per state: the local test server has no GROUP BY, so ours are read as `status` values
 * a page at a time and counted here; Celery's are scanned and matched as `find` does.
 */
export async function countTasks(
  container: Container,
  query: CountQuery,
): Promise<Record<TaskState, number>> {
  const counts: Record<TaskState, number> = {};
  const count = (state: unknown) => {
    if (typeof state === "string") counts[state] = (counts[state] ?? 0) + 1;
  };
  const where = ours(query);
  const text = `SELECT VALUE c.status FROM c WHERE ${where.text()}`;
  const statuses = container.items.query<unknown>(
    { query: text, parameters: where.parameters },
    { maxItemCount: 1000 },
  );
  const counting = drain(statuses, "count of tasks", (state) => count(state));
  const scanning =
    celerysMayMatch(query) &&
    scan(container, "count of tasks", celerys(query), (doc) => {
      const record = decodeTask(doc, taskIdOf(doc));
      if (matchesCountQuery(record, query)) count(record.status);
    });
  await Promise.all([counting, scanning]);
  return counts;
}

/** Every document `where` selects, offered to `visit` one page of {@link SCAN_PAGE} at a time. */
function scan(
  container: Container,
  label: string,
  where: Where,
  visit: (doc: StoredDocument) => void,
): Promise<void> {
  const text = `SELECT * FROM c WHERE ${where.text()}`;
  const pages = container.items.query<StoredDocument>(
    { query: text, parameters: where.parameters },
    { maxItemCount: SCAN_PAGE },
  );
  return drain(pages, label, visit);
}

/** Reads `pages` to the end (the SDK's continuation, inside this one call), visiting each item. */
async function drain<T>(pages: QueryIterator<T>, label: string, visit: (item: T) => void) {
  while (pages.hasMoreResults()) {
    const { resources } = await guard(label, () => pages.fetchNext());
    for (const item of resources) visit(item);
  }
}

/** `body`, with a query the indexes cannot serve (a missing composite index) said plainly. */
function guard<T>(label: string, body: () => Promise<T>): Promise<T> {
  return errors.guard<T, never>(label, body, (error) => {
    if (errors.statusOf(error) !== 400 || !/composite index/i.test(String(error))) return undefined;
    const problem = `${label[0]?.toUpperCase()}${label.slice(1)} needs the composite indexes the README lists ("Finding tasks"); the container has not got them (provisioning "never" leaves them to the operator).`;
    throw new BackendError(BACKEND_NAME, problem, { cause: error });
  });
}

const taskIdOf = (doc: StoredDocument) => doc.id.slice(keys.task("").length);
