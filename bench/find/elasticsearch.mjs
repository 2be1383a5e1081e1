// Elasticsearch's (and OpenSearch's) hand-written equivalent, over plain HTTP so one module
// serves both engines: one _search with `term` filters on `status` and on the metadata term
// (`tenant\0st7`, the keyword the store indexes for that key and value), sorted by
// (@timestamp, task_id) descending, size 100; the next page by `search_after`. No refresh: the
// load is over. The count is one terms aggregation on `status` under the metadata term.
import { FIND_STATE, FIND_TENANT, PAGE } from "../lib/find-mix.mjs";

const TENANT_TERM = `tenant\u0000s${FIND_TENANT}`;

/** `elasticsearch[+https]://host:port` → `http(s)://host:port`. */
export function httpBase(url) {
  const parsed = new URL(url);
  const scheme = parsed.protocol.includes("https") ? "https" : "http";
  return `${scheme}://${parsed.host}`;
}

async function call(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

export async function createNative(url, { namespace }) {
  const base = httpBase(url);
  const filter = [{ term: { status: FIND_STATE } }, { term: { metadata_terms: TENANT_TERM } }];
  return {
    name: "_search, term filters, search_after",
    page: async (last) => {
      const body = {
        size: PAGE,
        track_total_hits: false,
        query: { bool: { filter } },
        sort: [{ "@timestamp": { order: "desc" } }, { task_id: { order: "desc" } }],
        ...(last && { search_after: [last.time, last.taskId] }),
      };
      const answer = await call(base, "POST", `/${namespace}/_search`, body);
      return answer.hits.hits.map((hit) => ({
        ...hit._source,
        taskId: hit._source.task_id,
        time: hit.sort[0],
      }));
    },
    count: async () => {
      const body = {
        size: 0,
        track_total_hits: false,
        query: { bool: { filter: [{ term: { metadata_terms: TENANT_TERM } }] } },
        aggs: { states: { terms: { field: "status", size: 100 } } },
      };
      const answer = await call(base, "POST", `/${namespace}/_search`, body);
      return Object.fromEntries(
        answer.aggregations.states.buckets.map((b) => [b.key, b.doc_count]),
      );
    },
  };
}

/**
 * A store whose index maps everything the store's own mapping does except find's three keyword
 * fields (`task_id`, `name`, `metadata_terms`): the documents still carry them, unindexed
 * (`dynamic: false`). Created here, then opened with `createIndex: false`.
 */
export async function storeWithoutIndexes(url, namespace, openStore) {
  const { FIND_FIELDS, INDEX_MAPPINGS } = await import(
    "../../packages/backend-elasticsearch/dist/client.js"
  );
  const properties = Object.fromEntries(
    Object.entries(INDEX_MAPPINGS.properties).filter(([field]) => !(field in FIND_FIELDS)),
  );
  await call(httpBase(url), "PUT", `/${namespace}`, {
    mappings: { ...INDEX_MAPPINGS, properties },
  });
  return {
    store: await openStore(namespace, { createIndex: false }),
    how: "an index created with the store's mapping minus task_id, name and metadata_terms; createIndex: false",
  };
}
