/**
 * `find` and `countByState` as searches (README, "Finding tasks"). Our task documents carry
 * keyword copies of what a query asks (`task_id`, `status`, `name`, `metadata_terms`) and every
 * record, ours or Celery's, its last write time in `@timestamp`: the server filters, sorts by
 * (`@timestamp`, `task_id`) and pages with `search_after`. Celery's own documents hold their state
 * and name only inside `result`, so they are fetched as candidates and checked here with core's
 * rules, which also re-check every record we return.
 */
import {
  ConfigurationError,
  type CountQuery,
  type FindQuery,
  type TaskRecord,
  type TaskState,
} from "@resultstore/core";
import {
  type CeleryKeys,
  CHORD_CLAIM_KEY_PREFIX,
  firstInOrder,
  matchesCountQuery,
  matchesFindQuery,
} from "@resultstore/core/backend";
import { FIND_FIELDS, type IndexApi, type SearchHit } from "./client.js";
import { BACKEND_NAME } from "./config.js";
import { decodeTask, metadataTerm } from "./records.js";

/** Distinct states `countByState` reports (a terms aggregation's size); Celery names 9. */
const MAX_STATES = 1000;
/**
 * Most documents of one millisecond `find` reads whole (where Celery's, without `task_id`, tie):
 * Elasticsearch's `index.max_result_window`.
 */
const MAX_MILLISECOND = 10_000;
/** Celery documents `countByState` reads and checks per scroll page. */
const SCAN_PAGE = 1000;
const SCROLL_KEEP_ALIVE = "1m";

/** Field types `find` needs; anything else (a dynamic `text` mapping, say) would match wrongly. */
const NEEDED_TYPES: Record<string, string> = {
  ...Object.fromEntries(Object.entries(FIND_FIELDS).map(([field, spec]) => [field, spec.type])),
  status: "keyword",
  "@timestamp": "date",
  expires_at: "date",
};

type Clause = Record<string, unknown>;

/** The searches of one backend's index. */
export class TaskFinder {
  /** The index's mapping, checked once per process (see `checkedIndex`). */
  private mappingChecked = false;

  constructor(
    /** The index's API once connected (reads wait for our own index creation in flight). */
    private readonly index: () => Promise<IndexApi>,
    private readonly ids: CeleryKeys,
    private readonly options: { refresh: boolean; provision: boolean },
  ) {}

  /**
   * Pages of hits in the query's order, each record checked by core's rules, until `limit`
   * matched and the last match's millisecond is complete; then sorted into the exact order and
   * cut. Celery's documents have no `task_id`: they tie within their millisecond, which
   * `search_after` cannot page through, so a millisecond holding one is read whole.
   */
  async find(query: FindQuery): Promise<TaskRecord[]> {
    const operation = "find of tasks";
    const api = await this.index();
    if (!(await this.checkedIndex(api, operation))) return [];
    const start = searchAfterOf(query);
    if (start === "nothing") return [];
    const criteria = criteriaOf(query);
    const found = new Map<string, TaskRecord>(); // by task id: a whole millisecond repeats hits
    const take = (hit: SearchHit) => {
      const record = this.taskOf(hit);
      if (record && matchesFindQuery(record, query)) found.set(record.taskId, record);
    };
    /** Reads millisecond `time` whole; the next search starts past it. */
    const wholeMillisecond = async (time: number) => {
      const only = { range: { "@timestamp": { gte: time, lte: time, format: "epoch_millis" } } };
      const body = findSearch(query, criteria, MAX_MILLISECOND, only);
      for (const hit of (await api.search(body, operation)).hits?.hits ?? []) take(hit);
      const past = query.order === "oldest" ? { gt: time } : { lt: time };
      return { range: { "@timestamp": { ...past, format: "epoch_millis" } } };
    };
    let after: unknown[] | undefined = start;
    let pastMillisecond: Clause | undefined;
    let boundary: number | undefined; // the millisecond of the limit-th match
    for (;;) {
      // One hit more than the limit: it tells whether the last match's millisecond goes on.
      const size = query.limit + 1;
      const body = findSearch(query, criteria, size, pastMillisecond);
      if (after) body.search_after = after;
      const hits = (await api.search(body, operation)).hits?.hits ?? [];
      let tie: number | undefined;
      for (const hit of hits) {
        const [time, taskId] = hit.sort as [number, string | null];
        if (boundary !== undefined && time !== boundary) return cut(found, query);
        if (taskId === null) {
          tie = time; // a document without `task_id`: its millisecond is read whole
          break;
        }
        take(hit);
        if (boundary === undefined && found.size >= query.limit) boundary = time;
      }
      if (tie !== undefined) {
        // Everything up to and including that millisecond has been read: a full page is exact.
        pastMillisecond = await wholeMillisecond(tie);
        if (found.size >= query.limit) return cut(found, query);
        after = undefined;
        continue;
      }
      if (hits.length < size) return cut(found, query); // nothing more
      if (boundary !== undefined) {
        await wholeMillisecond(boundary); // the hits ended inside it
        return cut(found, query);
      }
      after = hits[hits.length - 1]?.sort;
    }
  }

  /**
   * A terms aggregation on `status` over our documents, and Celery's candidates counted beside
   * it; when there are any, they are scrolled through and checked here (`SCAN_PAGE` at a time).
   */
  async countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    const operation = "count of tasks by state";
    const counts: Record<TaskState, number> = {};
    const api = await this.index();
    if (!(await this.checkedIndex(api, operation))) return counts;
    const criteria = criteriaOf(query);
    const { common, ours, celery } = criteria;
    const body = {
      size: 0,
      track_total_hits: false,
      query: selecting(criteria),
      aggs: {
        ours: { filter: ours, aggs: { states: { terms: { field: "status", size: MAX_STATES } } } },
        ...(celery && { celery: { filter: celery } }),
      },
    };
    type Aggregations = {
      ours?: { states?: { buckets?: { key: string; doc_count: number }[] } };
      celery?: { doc_count?: number };
    };
    const answer = await api.search(body, operation);
    const aggregations = (answer.aggregations ?? {}) as Aggregations;
    for (const { key, doc_count } of aggregations.ours?.states?.buckets ?? [])
      counts[key] = doc_count;
    if (celery && (aggregations.celery?.doc_count ?? 0) > 0) {
      const scan = {
        size: SCAN_PAGE,
        query: { bool: { ...common, filter: [...common.filter, celery] } },
      };
      await this.scan(api, scan, operation, (record) => {
        if (matchesCountQuery(record, query))
          counts[record.status] = (counts[record.status] ?? 0) + 1;
      });
    }
    return counts;
  }

  /** Every hit of `body`, one scroll page at a time, offered to `visit` as a task record. */
  private async scan(
    api: IndexApi,
    body: Clause,
    operation: string,
    visit: (record: TaskRecord) => void,
  ): Promise<void> {
    let page = await api.search(body, operation, { scroll: SCROLL_KEEP_ALIVE });
    try {
      for (;;) {
        const hits = page.hits?.hits ?? [];
        for (const hit of hits) {
          const record = this.taskOf(hit);
          if (record) visit(record);
        }
        if (hits.length < SCAN_PAGE || !page._scroll_id) return;
        page = await api.scroll(page._scroll_id, SCROLL_KEEP_ALIVE, operation);
      }
    } finally {
      if (page._scroll_id) await api.clearScroll(page._scroll_id, operation);
    }
  }

  /** The task record of a hit, or null when the hit is no task of ours (a group, another prefix). */
  private taskOf(hit: SearchHit): TaskRecord | null {
    const prefix = this.ids.task("");
    if (!hit._id.startsWith(prefix) || !hit._source) return null;
    return decodeTask(hit._source, hit._id.slice(prefix.length));
  }

  /**
   * False when there is no index (nothing to find). Refreshes it first (unless configured not
   * to), and checks its mapping once: our fields added when we provision, a clear error when an
   * index maps them otherwise or lacks them and we may not change it.
   */
  private async checkedIndex(api: IndexApi, operation: string): Promise<boolean> {
    if (this.options.refresh && !(await api.refresh(operation))) return false;
    if (this.mappingChecked) return true;
    const types = await api.fieldTypes(operation);
    if (!types) return false;
    for (const [field, type] of Object.entries(NEEDED_TYPES)) {
      if (field in types && types[field] !== type)
        throw mappingError(api, `maps ${field} as ${types[field]}, not ${type}`);
    }
    const missing = Object.keys(FIND_FIELDS).some((field) => !(field in types));
    if (missing && this.options.provision) await api.addFindFields(operation);
    else if (missing) throw mappingError(api, "has no mapping for task_id, name or metadata_terms");
    this.mappingChecked = true;
    return true;
  }
}

/**
 * The query's parts: `common` (written by `asOf`, inside `after`/`before`, not expired) for
 * every document, `ours` (our task documents matching exactly), and `celery` (documents without
 * our copies: Celery's, or written before `find` existed), which cannot hold metadata we index.
 */
function criteriaOf(
  query: CountQuery & Partial<Pick<FindQuery, "states" | "asOf" | "startAfter">>,
) {
  const time: Clause = {};
  if (query.after) time.gte = query.after.getTime();
  // One upper bound (OpenSearch refuses `lt` beside `lte`): times are whole milliseconds, so
  // "at most asOf" is "before asOf + 1". The snapshot bounds the search past the first page
  // only: on the first, `asOf` is now and cuts nothing, and a range that changes with every call
  // is one the engine's query cache never reuses (100k records, state + metadata: a first page
  // of 29 ms with it, 13 without; bench/NOTES.md, "Find at scale"). `take` checks it anyway.
  const snapshot = query.startAfter && query.asOf && query.asOf.getTime() + 1;
  const ends = [query.before?.getTime(), snapshot];
  const end = Math.min(...ends.map((t) => t ?? Number.POSITIVE_INFINITY));
  if (end !== Number.POSITIVE_INFINITY) time.lt = end;
  const common = {
    filter: [{ range: { "@timestamp": { ...time, format: "epoch_millis" } } }] as Clause[],
    must_not: [{ range: { expires_at: { lte: query.now.getTime(), format: "epoch_millis" } } }],
  };
  const exact: Clause[] = [{ exists: { field: "task_id" } }];
  if (query.states) exact.push({ terms: { status: query.states } });
  if (query.name !== undefined) exact.push({ term: { name: query.name } });
  for (const [key, value] of query.metadata ?? []) {
    const term = metadataTerm(key, value);
    // No stored value has a term for an unsafe integer (it reads back as a BigInt): no match.
    exact.push(term === null ? { match_none: {} } : { term: { metadata_terms: term } });
  }
  const ours = {
    bool: { filter: exact, must_not: [{ prefix: { task_id: CHORD_CLAIM_KEY_PREFIX } }] },
  };
  // Celery's task documents hold `result` and `@timestamp` only; our groups have a `date_done`.
  const celery = query.metadata
    ? undefined
    : {
        bool: {
          must_not: [{ exists: { field: "task_id" } }, { exists: { field: "kind" } }],
          should: [
            { bool: { must_not: [{ exists: { field: "date_done" } }] } },
            { exists: { field: "status" } },
          ],
          minimum_should_match: 1,
        },
      };
  return { common, ours, celery };
}

type Criteria = ReturnType<typeof criteriaOf>;

/** The documents `criteria` select (ours matching exactly, or Celery's candidates), within `time`. */
function selecting({ common, ours, celery }: Criteria, time?: Clause): Clause {
  const filter = time ? [...common.filter, time] : common.filter;
  const should = celery ? [ours, celery] : [ours];
  return { bool: { ...common, filter, should, minimum_should_match: 1 } };
}

/** The search body of a `find` page: the query (and `time`, a range), its sort, `size` hits. */
function findSearch(query: FindQuery, criteria: Criteria, size: number, time?: Clause): Clause {
  const order = query.order === "oldest" ? "asc" : "desc";
  return {
    size,
    track_total_hits: false,
    query: selecting(criteria, time),
    // Documents without `task_id` (Celery's) sort last within their millisecond, in both orders,
    // so they follow ours there and `find` reads that millisecond whole; `unmapped_type` for an
    // index no write of ours has mapped yet.
    sort: [
      { "@timestamp": { order } },
      { task_id: { order, missing: "_last", unmapped_type: "keyword" } },
    ],
  };
}

/**
 * Where the first search starts: after the previous page's last record; "nothing" when that
 * record had no time (none is ever listed: every document we list has a `@timestamp`).
 */
function searchAfterOf(query: FindQuery): unknown[] | undefined | "nothing" {
  const last = query.startAfter;
  if (!last) return undefined;
  if (!last.time) return query.order === "newest" ? "nothing" : undefined;
  return [last.time.getTime(), last.taskId];
}

/** `found` in the query's exact order (ties by task id in code point order), at most `limit`. */
function cut(found: Map<string, TaskRecord>, query: FindQuery): TaskRecord[] {
  return firstInOrder([...found.values()], query);
}

function mappingError(api: IndexApi, problem: string): ConfigurationError {
  return new ConfigurationError(
    BACKEND_NAME,
    `Index ${api.indexName} ${problem}: find and countByState need the mapping in the README ` +
      '("Finding tasks"); add it (PUT <index>/_mapping) or reindex into an index created with it.',
  );
}
