/**
 * The client and our index. We speak REST paths through `transport.request` (stable across
 * Elasticsearch 7–9 and OpenSearch 1–3): the two clients' typed methods name parameters apart
 * (`document` vs `body`), and Elasticsearch 8+ answers `{ body, statusCode }` only with `meta`.
 */
import { setTimeout } from "node:timers/promises";
import { BackendError, ConfigurationError, ValueTooLargeError } from "@resultstore/core";
import { chunks, Lazy } from "@resultstore/core/backend";
import { BACKEND_NAME, type ConnectionConfig, type ResolvedConfig } from "./config.js";
import { errors, writeErrors } from "./errors.js";
import type { DocumentVersion, StoredDocument } from "./records.js";
import type { SearchClientLike, TransportParams } from "./types.js";

export interface RequestOptions {
  /** What the call is part of, as errors name it: "read of task t1" (BACKEND.md's labels). */
  operation: string;
  /** Statuses that resolve instead of throwing (404: not there, 409: a lost CAS). */
  ignore?: readonly number[];
  /** Overrides the client's own retries (0 for a request that must not run twice). */
  maxRetries?: number;
  /** It changes documents: a failure after it was sent may have taken effect (`writeErrors`). */
  mutates?: boolean;
}

/** An answer; `attempts`: the times the client sent the request again (0: once). */
export interface RestResponse {
  statusCode: number;
  body: unknown;
  attempts: number;
}

type RawResponse = { body: unknown; statusCode: unknown; meta?: { attempts?: unknown } };

/** A transport result: `{ body, statusCode, meta }` (both clients here) or a bare body. */
export function toResponse(raw: unknown): RestResponse {
  if (typeof raw === "object" && raw !== null && "body" in raw && "statusCode" in raw) {
    const { body, statusCode, meta } = raw as RawResponse;
    const attempts = typeof meta?.attempts === "number" ? meta.attempts : 0;
    return { statusCode: typeof statusCode === "number" ? statusCode : 200, body, attempts };
  }
  // A client that resolves bodies only reports success this way (errors throw).
  return { statusCode: 200, body: raw, attempts: 0 };
}

/** The API of our index, over the caller's client or one built from the options. */
export async function openIndex(config: ResolvedConfig): Promise<IndexApi> {
  return new IndexApi(config.client ?? (await buildClient(config.connection)), config);
}

/** A client of the chosen driver, which is loaded only now (a peer dependency). */
async function buildClient(config: ConnectionConfig): Promise<SearchClientLike> {
  const { driver, nodes, username, password = "", apiKey, caCert } = config;
  const opensearch = driver === "opensearch";
  if (opensearch && apiKey) {
    throw new ConfigurationError(
      BACKEND_NAME,
      "OpenSearch has no API keys: use username/password, or pass your own client (e.g. with AWS SigV4).",
    );
  }
  const name = opensearch ? "@opensearch-project/opensearch" : "@elastic/elasticsearch";
  const { Client } = (await import(name).catch((cause: unknown) => {
    const message = `This backend needs its driver: npm install ${name}`;
    throw new ConfigurationError(BACKEND_NAME, message, { cause });
  })) as { Client: new (options: object) => SearchClientLike };
  const auth = apiKey ? { apiKey } : username === undefined ? undefined : { username, password };
  const tls = { rejectUnauthorized: config.rejectUnauthorized, ...(caCert && { ca: caCert }) };
  return new Client({
    // Both clients take several nodes, spread requests over them and mark a dead one for a while.
    ...(nodes.length === 1 ? { node: nodes[0] } : { nodes }),
    requestTimeout: config.requestTimeout,
    maxRetries: config.maxRetries,
    ...(auth && { auth }),
    ...(opensearch ? { ssl: tls } : { tls }),
  });
}

/**
 * The fields `find` and `countByState` query (README, "Finding tasks"): added to an index that
 * already exists (created by Celery, or by a version before `find`) when a process provisions.
 * `name` keeps names up to 8191 characters (Lucene's 32 KB term limit, 4 bytes a character).
 */
export const FIND_FIELDS = {
  task_id: { type: "keyword" },
  name: { type: "keyword", ignore_above: 8191 },
  metadata_terms: { type: "keyword" },
} as const;

/**
 * The mapping of an index we create: `dynamic: false`, `result` and `metadata` disabled objects,
 * so no user data ever adds a field (README, "Storage layout").
 */
export const INDEX_MAPPINGS = {
  dynamic: false,
  properties: {
    ...FIND_FIELDS,
    result: { type: "object", enabled: false },
    metadata: { type: "object", enabled: false },
    "@timestamp": { type: "date" },
    status: { type: "keyword" },
    date_done: { type: "date" },
    expires_at: { type: "date" },
    kind: { type: "keyword" },
    count: { type: "long" },
    write_id: { type: "keyword", index: false, doc_values: false },
    created_by: { type: "keyword", index: false, doc_values: false },
    members: { type: "keyword", index: false, doc_values: false },
  },
};

/** Ids per `_mget` request. */
const MGET_BATCH = 1000;
/** How long a process that found the index already created waits for its shard to start. */
const SHARD_WAIT_MS = 30_000;
const SHARD_POLL_MS = 50;
/** Elasticsearch's default `http.max_content_length` (100 MB), minus room for the request line. */
const HTTP_BODY_LIMIT = 100 * 1024 * 1024 - 64 * 1024;

interface GetResponse {
  found?: boolean;
  _seq_no?: number;
  _primary_term?: number;
  _version?: number;
  _source?: Record<string, unknown>;
  error?: { type?: string; reason?: string };
}

/** A `_search` answer: the hits with their sort values, and any aggregations. */
export interface SearchAnswer {
  _scroll_id?: string;
  hits?: { hits?: SearchHit[] };
  aggregations?: Record<string, unknown>;
}

export interface SearchHit {
  _id: string;
  _source?: Record<string, unknown>;
  sort?: unknown[];
}

/** What a guarded write answered: the new version, or null on 409; `resent` if the client re-sent it. */
export type WriteAnswer = { version: DocumentVersion | null; resent: boolean };

/** Our index: the REST calls on it, one method each, their answers checked. */
export class IndexApi {
  private readonly base: string;
  /** Our index, created with our mapping by the first write (reads never create it, as Celery). */
  private readonly created = new Lazy(() => this.createIndex());
  /** Per-request options: Elasticsearch's `retryOnTimeout` exists only per request. */
  private readonly defaults: Record<string, unknown>;

  constructor(
    private readonly client: SearchClientLike,
    private readonly config: ResolvedConfig,
  ) {
    this.base = `/${encodeURIComponent(config.index)}`;
    const retryOnTimeout = !config.client && config.connection.retryOnTimeout;
    this.defaults = retryOnTimeout ? { retryOnTimeout } : {};
  }

  /** One REST call; driver errors become core's typed errors, named by `options.operation`. */
  request(params: TransportParams, options: RequestOptions): Promise<RestResponse> {
    const { operation, ignore = [], maxRetries, mutates = false } = options;
    const transport = {
      ...this.defaults,
      ignore: [...ignore],
      meta: true,
      ...(maxRetries !== undefined && { maxRetries }),
      // Clients send a pre-serialised string as text/plain, which Elasticsearch refuses.
      ...(typeof params.body === "string" && { headers: { "content-type": "application/json" } }),
    };
    return (mutates ? writeErrors : errors).guard(operation, async () =>
      toResponse(await this.client.transport.request(params, transport)),
    );
  }

  /** The index's name, as errors name it. */
  get indexName(): string {
    return this.config.index;
  }

  /** This API once the index exists: the first call creates it. */
  async writable(): Promise<this> {
    await this.created.get();
    return this;
  }

  /** This API for reads, after our own index creation in flight (its shard answers 503 meanwhile). */
  async readable(): Promise<this> {
    await this.created.settled();
    return this;
  }

  /**
   * Creates the index with our mapping, or adds `find`'s fields to the mapping of one that exists;
   * nothing with `createIndex: false` (the operator provisions).
   */
  private async createIndex(): Promise<void> {
    const { index, indexSettings } = this.config;
    if (!this.config.createIndex) return;
    const operation = `provisioning of index ${index}`;
    const settings = Object.keys(indexSettings).length ? { settings: indexSettings } : {};
    const { statusCode, body } = await this.request(
      { method: "PUT", path: this.base, body: { mappings: INDEX_MAPPINGS, ...settings } },
      { operation, ignore: [400] },
    );
    if (statusCode !== 400) return;
    const { type, reason } = (body as GetResponse | undefined)?.error ?? {};
    const message = `Provisioning of index ${index} failed: ${type}: ${reason}`;
    if (type !== "resource_already_exists_exception") throw new BackendError(BACKEND_NAME, message);
    await this.addFindFields(operation);
    // Another process may have just created it, its shard still starting (503). A GET of an absent
    // id is the probe: it needs only read access (the health API needs a cluster privilege).
    for (let waited = 0; waited < SHARD_WAIT_MS; waited += SHARD_POLL_MS) {
      const probe = await this.onDoc("GET", "resultstore-probe", { operation, ignore: [404, 503] });
      if (probe.statusCode !== 503) return;
      await setTimeout(SHARD_POLL_MS);
    }
  }

  /**
   * Adds `find`'s fields to an existing index's mapping (a no-op when they are there). Adding
   * fields is allowed on a live index; a field someone mapped otherwise is a configuration error.
   */
  async addFindFields(operation: string): Promise<void> {
    const { statusCode, body } = await this.request(
      { method: "PUT", path: `${this.base}/_mapping`, body: { properties: FIND_FIELDS } },
      { operation, ignore: [400] },
    );
    if (statusCode !== 400) return;
    const { type, reason } = (body as GetResponse | undefined)?.error ?? {};
    throw new ConfigurationError(
      BACKEND_NAME,
      `Index ${this.config.index} maps a field find needs otherwise (${type}: ${reason}); ` +
        "create the index with the mapping in the README and reindex into it.",
    );
  }

  /** The index's mapped field types (`properties`, top level), or null when there is no index. */
  async fieldTypes(operation: string): Promise<Record<string, string> | null> {
    const path = `${this.base}/_mapping`;
    const { statusCode, body } = await this.request(
      { method: "GET", path },
      { operation, ignore: [404] },
    );
    if (statusCode === 404) return null;
    // One entry, keyed by the concrete index name (an alias resolves to it).
    const [entry] = Object.values(body as Record<string, { mappings?: { properties?: object } }>);
    const properties = (entry?.mappings?.properties ?? {}) as Record<string, { type?: string }>;
    return Object.fromEntries(
      Object.entries(properties).map(([field, spec]) => [field, spec.type ?? "object"]),
    );
  }

  /** Makes every acknowledged write searchable; false when there is no index. */
  async refresh(operation: string): Promise<boolean> {
    const refresh = { method: "POST", path: `${this.base}/_refresh` };
    return (await this.request(refresh, { operation, ignore: [404] })).statusCode !== 404;
  }

  /** One `_search` (with the read parameters); the answer's body. */
  async search(
    body: Record<string, unknown>,
    operation: string,
    querystring: Record<string, string> = {},
  ): Promise<SearchAnswer> {
    const path = `${this.base}/_search`;
    const params = { method: "POST", path, body, querystring: { ...this.reads, ...querystring } };
    const { statusCode, body: answer } = await this.request(params, { operation, ignore: [404] });
    return statusCode === 404 ? {} : (answer as SearchAnswer); // no index: no hits
  }

  /** The next page of a scroll `search` opened with `?scroll=`. */
  async scroll(scrollId: string, keepAlive: string, operation: string): Promise<SearchAnswer> {
    const body = { scroll: keepAlive, scroll_id: scrollId };
    return (await this.request({ method: "POST", path: "/_search/scroll", body }, { operation }))
      .body as SearchAnswer;
  }

  /** Frees a scroll's server context early (it would expire after its keep-alive anyway). */
  async clearScroll(scrollId: string, operation: string): Promise<void> {
    const params = { method: "DELETE", path: "/_search/scroll", body: { scroll_id: scrollId } };
    await this.request(params, { operation, ignore: [404] });
  }

  /** Deletes the index (the whole namespace); the next write creates it again. */
  async dropIndex(): Promise<void> {
    this.created.reset();
    const operation = `removal of index ${this.config.index}`;
    await this.request({ method: "DELETE", path: this.base }, { operation, ignore: [404] });
  }

  /** Realtime GET (sees every acknowledged write, no refresh needed); null when absent. */
  async get(id: string, operation: string, maxRetries?: number): Promise<StoredDocument | null> {
    const { statusCode, body } = await this.onDoc("GET", id, {
      operation,
      maxRetries,
      ignore: [404],
    });
    return statusCode === 404 ? null : toStored(body as GetResponse, id);
  }

  /** Realtime `_mget`, in the order of `ids`; null for absent documents (or no index yet). */
  async getMany(ids: readonly string[], operation: string): Promise<(StoredDocument | null)[]> {
    const out: (StoredDocument | null)[] = [];
    const path = `${this.base}/_mget`;
    for (const batch of chunks(ids, MGET_BATCH)) {
      const params = { method: "POST", path, body: { ids: batch }, querystring: this.reads };
      const { body } = await this.request(params, { operation });
      const docs = (body as { docs?: GetResponse[] }).docs ?? [];
      for (const [i, id] of batch.entries()) {
        const doc = docs[i];
        const error = doc?.error;
        const message = `Read of ${id} failed: ${error?.type}: ${error?.reason}`;
        if (error && error.type !== "index_not_found_exception") {
          throw new BackendError(BACKEND_NAME, message);
        }
        out.push(doc ? toStored(doc, id) : null);
      }
    }
    return out;
  }

  /**
   * `_create` when `base` is null, else an index guarded by that version: the new version, or
   * null (409) when the document exists, or was written or deleted since `base`.
   */
  async write(
    id: string,
    body: string,
    base: DocumentVersion | null,
    operation: string,
    maxRetries?: number,
  ): Promise<WriteAnswer> {
    // A typed error before the server answers 413 (its `http.max_content_length`).
    const size = Buffer.byteLength(body);
    if (size > HTTP_BODY_LIMIT) throw new ValueTooLargeError(BACKEND_NAME, size, HTTP_BODY_LIMIT);
    const guard = base && { if_seq_no: base.seqNo, if_primary_term: base.primaryTerm };
    const response = await this.request(
      {
        method: "PUT",
        path: base ? this.docPath(id) : `${this.base}/_create/${encodeURIComponent(id)}`,
        body,
        querystring: { ...this.config.writeParams, ...guard },
      },
      { operation, maxRetries, ignore: [409], mutates: true },
    );
    const resent = response.attempts > 0;
    if (response.statusCode === 409) return { version: null, resent };
    const written = response.body as GetResponse;
    // Both engines report them; -1 marks "written, version unknown" (never cached).
    const seqNo = written._seq_no ?? -1;
    const primaryTerm = written._primary_term ?? -1;
    return { version: { seqNo, primaryTerm, version: written._version ?? -1 }, resent };
  }

  /** Unguarded index (create or overwrite). */
  async overwrite(id: string, body: string, operation: string): Promise<void> {
    await this.onDoc("PUT", id, { operation, mutates: true }, body);
  }

  async delete(id: string, operation: string): Promise<void> {
    await this.onDoc("DELETE", id, { operation, ignore: [404], mutates: true });
  }

  /**
   * Refresh, search `expires_at <= now`, delete in bulk each guarded by the version the search saw,
   * page by page; how many were deleted (README, "How writes are atomic": `cleanup`).
   */
  async deleteExpired(now: Date): Promise<number> {
    const size = this.config.cleanupBatchSize;
    const operation = "cleanup";
    const expired = { range: { expires_at: { lte: now.toISOString() } } };
    // Ids whose guarded delete failed: left out of later searches, so every page deletes or
    // excludes all it found (the run ends) and a page of conflicts never ends it early.
    const skipped: string[] = [];
    let removed = 0;
    for (;;) {
      if (!(await this.refresh(operation))) return removed; // no index: nothing to clean
      const query = skipped.length
        ? { bool: { filter: [expired], must_not: [{ ids: { values: skipped } }] } }
        : expired;
      const search = { size, _source: false, seq_no_primary_term: true, track_total_hits: false };
      const found = await this.request(
        { method: "POST", path: `${this.base}/_search`, body: { ...search, query } },
        { operation },
      );
      type Hit = { _id: string; _seq_no: number; _primary_term: number };
      const hits = (found.body as { hits?: { hits?: Hit[] } }).hits?.hits ?? [];
      if (hits.length === 0) return removed;
      const bulk = await this.request(
        {
          method: "POST",
          path: `${this.base}/_bulk`,
          querystring: this.config.writeParams,
          bulkBody: hits.map(({ _id, _seq_no, _primary_term }) => ({
            delete: { _id, if_seq_no: _seq_no, if_primary_term: _primary_term },
          })),
        },
        { operation, mutates: true },
      );
      const items = (bulk.body as { items?: { delete?: { status?: number } }[] }).items ?? [];
      const failed = hits.filter((_hit, i) => items[i]?.delete?.status !== 200);
      removed += hits.length - failed.length;
      skipped.push(...failed.map((hit) => hit._id));
      if (hits.length < size) return removed;
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** A call on document `id`, with the read or the write parameters. */
  private onDoc(method: string, id: string, options: RequestOptions, body?: string) {
    const querystring = method === "GET" ? this.reads : this.config.writeParams;
    const params: TransportParams = { method, path: this.docPath(id), querystring };
    if (body !== undefined) params.body = body;
    return this.request(params, options);
  }

  private get reads(): Record<string, string> {
    return this.config.readParams;
  }

  private docPath(id: string): string {
    return `${this.base}/_doc/${encodeURIComponent(id)}`;
  }
}

function toStored(doc: GetResponse, id: string): StoredDocument | null {
  if (!doc.found) return null;
  const { _seq_no: seqNo, _primary_term: primaryTerm, _source: source } = doc;
  if (typeof seqNo !== "number" || typeof primaryTerm !== "number" || !source) {
    const message = `The server returned ${id} without _seq_no/_primary_term/_source.`;
    throw new BackendError(BACKEND_NAME, message);
  }
  return { seqNo, primaryTerm, version: doc._version ?? -1, source };
}
