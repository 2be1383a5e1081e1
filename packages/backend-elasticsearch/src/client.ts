/**
 * The client and the index. Both `@elastic/elasticsearch` and `@opensearch-project/opensearch`
 * expose `transport.request`, the REST API itself, so we speak REST paths (stable across
 * Elasticsearch 7–9 and OpenSearch 1–3) instead of either client's typed methods, whose parameter
 * names differ (`document` vs `body`). Their responses differ too: OpenSearch (and the 7.x
 * Elasticsearch client) always resolve `{ body, statusCode, … }`; Elasticsearch 8+ resolves the
 * bare body unless asked for `meta: true`, which we always ask. `IndexApi` makes the REST calls on
 * our index, one method each, and checks their answers, so the backend deals only in documents.
 */
import { setTimeout } from "node:timers/promises";
import { BackendError, ConfigurationError, ValueTooLargeError } from "@resultstore/core";
import { chunks, Lazy } from "@resultstore/core/backend";
import { BACKEND_NAME, type ConnectionConfig, type ResolvedConfig } from "./config.js";
import { errors, writeErrors } from "./errors.js";
import type { DocumentVersion, StoredDocument } from "./records.js";
import type { SearchClientLike, TransportParams } from "./types.js";

export interface RequestOptions {
  /** What the call is part of, as errors name it: "read of task t1" (BACKEND.md's label style). */
  operation: string;
  /** Statuses that resolve instead of throwing (404 for "not there", 409 for a lost CAS). */
  ignore?: readonly number[];
  /** Overrides the client's own retries for this request (0 for non-idempotent ones). */
  maxRetries?: number;
  /**
   * The request changes documents: a failure after it was sent may have taken effect, and is
   * core's `OutcomeUnknownError` rather than a failure that a retry may repeat.
   */
  mutates?: boolean;
}

export interface EngineResponse {
  statusCode: number;
  body: unknown;
  /** Times the client sent the request again after a connection error or a 502/503/504 (0: once). */
  attempts: number;
}

/** What the backend needs from a client. Unit tests can implement it without a server. */
export interface Engine {
  /** One REST call; statuses in `options.ignore` resolve instead of throwing. */
  request(params: TransportParams, options: RequestOptions): Promise<EngineResponse>;
  close(): Promise<void>;
}

const JSON_CONTENT = { "content-type": "application/json" };

/**
 * Wraps either client behind `Engine`; driver errors become core's typed errors. `defaults` are
 * per-request transport options for clients we build (Elasticsearch's `retryOnTimeout` exists
 * only per request).
 */
export function adaptClient(
  client: SearchClientLike,
  defaults: Record<string, unknown> = {},
): Engine {
  return {
    request(params, { operation, ignore = [], maxRetries, mutates = false }) {
      const options = {
        ...defaults,
        ignore: [...ignore],
        // Elasticsearch 8+'s switch for `{ body, statusCode }`; OpenSearch answers that anyway.
        meta: true,
        ...(maxRetries !== undefined && { maxRetries }),
        // Clients send a pre-serialised string as text/plain, which Elasticsearch refuses.
        ...(typeof params.body === "string" && { headers: JSON_CONTENT }),
      };
      return (mutates ? writeErrors : errors).guard(operation, async () =>
        toEngineResponse(await client.transport.request(params, options)),
      );
    },
    async close() {
      await client.close();
    },
  };
}

/**
 * Normalises a transport result: `{ body, statusCode, meta }` (both clients here) or a bare body.
 * `meta.attempts` is how many times the client re-sent the request.
 */
export function toEngineResponse(raw: unknown): EngineResponse {
  if (typeof raw === "object" && raw !== null && "body" in raw && "statusCode" in raw) {
    const { body, statusCode, meta } = raw as {
      body: unknown;
      statusCode: unknown;
      meta?: { attempts?: unknown };
    };
    const attempts = typeof meta?.attempts === "number" ? meta.attempts : 0;
    return { statusCode: typeof statusCode === "number" ? statusCode : 200, body, attempts };
  }
  // A client that resolves bodies only reports success this way (errors throw).
  return { statusCode: 200, body: raw, attempts: 0 };
}

/** The API of the configured index, over the caller's client or one built from the options. */
export async function openIndex(config: ResolvedConfig): Promise<IndexApi> {
  const { client, connection } = config;
  const engine = client
    ? adaptClient(client)
    : adaptClient(await buildClient(connection), {
        ...(connection.retryOnTimeout && { retryOnTimeout: true }),
      });
  return new IndexApi(engine, config);
}

/** Builds a client from options with the chosen driver, loaded only now (a peer dependency). */
async function buildClient(config: ConnectionConfig): Promise<SearchClientLike> {
  const basic =
    config.username !== undefined
      ? { username: config.username, password: config.password ?? "" }
      : undefined;
  const tls = {
    rejectUnauthorized: config.rejectUnauthorized,
    ...(config.caCert && { ca: config.caCert }),
  };
  const common = {
    // Both clients take several nodes, spread requests over them and mark a dead one for a while.
    ...(config.nodes.length === 1 ? { node: config.nodes[0] } : { nodes: config.nodes }),
    requestTimeout: config.requestTimeout,
    maxRetries: config.maxRetries,
  };
  if (config.driver === "opensearch") {
    if (config.apiKey) {
      throw new ConfigurationError(
        BACKEND_NAME,
        "OpenSearch has no API keys: use username/password, or pass your own client (e.g. with AWS SigV4).",
      );
    }
    const { Client } = await importDriver<typeof import("@opensearch-project/opensearch")>(
      "@opensearch-project/opensearch",
    );
    return new Client({ ...common, ...(basic && { auth: basic }), ssl: tls });
  }
  const { Client } =
    await importDriver<typeof import("@elastic/elasticsearch")>("@elastic/elasticsearch");
  const auth = config.apiKey ? { apiKey: config.apiKey } : basic;
  return new Client({ ...common, ...(auth && { auth }), tls });
}

async function importDriver<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (cause) {
    const message = `This backend needs its driver: npm install ${name}`;
    throw new ConfigurationError(BACKEND_NAME, message, { cause });
  }
}

/**
 * The explicit mapping of an index we create. `dynamic: false` indexes only what is listed, so
 * no user data ever adds a field to the mapping (no mapping explosion); `result` and `metadata`
 * are disabled objects: kept in `_source` as they are, never parsed or indexed, whatever their
 * shape (Celery's JSON text, or its native-object form). An index someone else created keeps its
 * own mapping: every field we add there is a scalar or a string, so dynamic mapping stays small.
 */
const INDEX_MAPPINGS = {
  dynamic: false,
  properties: {
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
} as const;

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

/** A search hit to delete, with the version the search saw. */
interface ExpiredHit {
  id: string;
  seqNo: number;
  primaryTerm: number;
}

/** What a guarded write answered: the new version, or null on 409; `resent` if the client re-sent it. */
export interface WriteAnswer {
  version: DocumentVersion | null;
  resent: boolean;
}

export class IndexApi {
  private readonly base: string;
  /** Our index, created with our mapping by the first write (reads never create it, as Celery). */
  private readonly created = new Lazy(() => this.createIndex());

  constructor(
    private readonly engine: Engine,
    private readonly config: ResolvedConfig,
  ) {
    this.base = `/${encodeURIComponent(config.index)}`;
  }

  /** This API, once the index exists: the first call creates it. */
  async writable(): Promise<this> {
    await this.created.get();
    return this;
  }

  /**
   * This API for reads. While our own index creation is in flight, its shard is still recovering
   * and a GET would answer 503, so reads wait for it (they never start one, as Celery's don't).
   */
  async readable(): Promise<this> {
    await this.created.settled();
    return this;
  }

  /** Creates the index with our mapping; an index that already exists is left as it is. */
  private async createIndex(): Promise<void> {
    const { index, indexSettings, readParams } = this.config;
    const operation = `provisioning of index ${index}`;
    const settings = Object.keys(indexSettings).length ? { settings: indexSettings } : {};
    const { statusCode, body } = await this.engine.request(
      { method: "PUT", path: this.base, body: { mappings: INDEX_MAPPINGS, ...settings } },
      { operation, ignore: [400] },
    );
    if (statusCode !== 400) return;
    const { type, reason } = (body as GetResponse | undefined)?.error ?? {};
    if (type !== "resource_already_exists_exception") {
      throw new BackendError(
        BACKEND_NAME,
        `Provisioning of index ${index} failed: ${type}: ${reason}`,
      );
    }
    // Another process may have just created it: its create waits for the primary shard, but ours
    // answered "exists" at once, and a read of a shard still starting answers 503
    // (no_shard_available_action_exception). A GET of an absent id is the probe: it needs only
    // read access to the index (the health API needs a cluster privilege).
    for (let waited = 0; waited < SHARD_WAIT_MS; waited += SHARD_POLL_MS) {
      const probe = await this.engine.request(
        { method: "GET", path: this.docPath("resultstore-probe"), querystring: readParams },
        { operation, ignore: [404, 503] },
      );
      if (probe.statusCode !== 503) return;
      await setTimeout(SHARD_POLL_MS);
    }
  }

  /** Deletes the index (the whole namespace); the next write creates it again. */
  async dropIndex(): Promise<void> {
    this.created.reset();
    const operation = `removal of index ${this.config.index}`;
    await this.engine.request({ method: "DELETE", path: this.base }, { operation, ignore: [404] });
  }

  /** Realtime GET (sees every acknowledged write, no refresh needed); null when absent. */
  async get(id: string, operation: string, maxRetries?: number): Promise<StoredDocument | null> {
    const { statusCode, body } = await this.engine.request(
      { method: "GET", path: this.docPath(id), querystring: this.config.readParams },
      { operation, maxRetries, ignore: [404] },
    );
    return statusCode === 404 ? null : toStored(body as GetResponse, id);
  }

  /** Realtime `_mget`, in the order of `ids`; null for absent documents (or no index yet). */
  async getMany(ids: readonly string[], operation: string): Promise<(StoredDocument | null)[]> {
    const out: (StoredDocument | null)[] = [];
    for (const batch of chunks(ids, MGET_BATCH)) {
      const { body } = await this.engine.request(
        {
          method: "POST",
          path: `${this.base}/_mget`,
          body: { ids: batch },
          querystring: this.config.readParams,
        },
        { operation },
      );
      const docs = (body as { docs?: GetResponse[] }).docs ?? [];
      batch.forEach((id, i) => {
        const doc = docs[i];
        const { type, reason } = doc?.error ?? {};
        if (doc?.error && type !== "index_not_found_exception") {
          throw new BackendError(BACKEND_NAME, `Read of ${id} failed: ${type}: ${reason}`);
        }
        out.push(doc ? toStored(doc, id) : null);
      });
    }
    return out;
  }

  /**
   * `_create` when `base` is null, else an index guarded by that version: the new version, or
   * null (409) if the document exists, or anyone wrote or deleted it since `base`.
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
    const response = await this.engine.request(
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
    const { _seq_no, _primary_term, _version } = response.body as GetResponse;
    // Elasticsearch and OpenSearch report them; -1 marks "written, version unknown" (never cached).
    const version = {
      seqNo: _seq_no ?? -1,
      primaryTerm: _primary_term ?? -1,
      version: _version ?? -1,
    };
    return { version, resent };
  }

  /** Unguarded index (create or overwrite). */
  async overwrite(id: string, body: string, operation: string): Promise<void> {
    await this.engine.request(
      { method: "PUT", path: this.docPath(id), body, querystring: this.config.writeParams },
      { operation, mutates: true },
    );
  }

  async delete(id: string, operation: string): Promise<void> {
    await this.engine.request(
      { method: "DELETE", path: this.docPath(id), querystring: this.config.writeParams },
      { operation, ignore: [404], mutates: true },
    );
  }

  /** Makes recent writes searchable; false when the index does not exist. */
  async refresh(): Promise<boolean> {
    const { statusCode } = await this.engine.request(
      { method: "POST", path: `${this.base}/_refresh` },
      { operation: "cleanup", ignore: [404] },
    );
    return statusCode !== 404;
  }

  /** One page of documents whose `expires_at` is at or before `now` (ids and versions only). */
  async findExpired(now: Date, size: number, skip: readonly string[]): Promise<ExpiredHit[]> {
    const expired = { range: { expires_at: { lte: now.toISOString() } } };
    const query =
      skip.length === 0
        ? expired
        : { bool: { filter: [expired], must_not: [{ ids: { values: skip } }] } };
    const { body } = await this.engine.request(
      {
        method: "POST",
        path: `${this.base}/_search`,
        body: { size, _source: false, seq_no_primary_term: true, track_total_hits: false, query },
      },
      { operation: "cleanup" },
    );
    type Hit = { _id: string; _seq_no: number; _primary_term: number };
    const hits = (body as { hits?: { hits?: Hit[] } }).hits?.hits ?? [];
    return hits.map((h) => ({ id: h._id, seqNo: h._seq_no, primaryTerm: h._primary_term }));
  }

  /**
   * Bulk deletes, each guarded by the version the search saw: how many were deleted, and the ids
   * that were not (409: rewritten since the search; 404: deleted by someone else).
   */
  async deleteGuarded(hits: readonly ExpiredHit[]): Promise<{ deleted: number; failed: string[] }> {
    const { body } = await this.engine.request(
      {
        method: "POST",
        path: `${this.base}/_bulk`,
        querystring: this.config.writeParams,
        bulkBody: hits.map((hit) => ({
          delete: { _id: hit.id, if_seq_no: hit.seqNo, if_primary_term: hit.primaryTerm },
        })),
      },
      { operation: "cleanup", mutates: true },
    );
    type Item = { delete?: { status?: number } };
    const items = (body as { items?: Item[] }).items ?? [];
    const failed = hits.filter((_hit, i) => items[i]?.delete?.status !== 200).map((hit) => hit.id);
    return { deleted: hits.length - failed.length, failed };
  }

  async close(): Promise<void> {
    await this.engine.close();
  }

  private docPath(id: string): string {
    return `${this.base}/_doc/${encodeURIComponent(id)}`;
  }
}

function toStored(doc: GetResponse, id: string): StoredDocument | null {
  if (!doc.found) return null;
  const { _seq_no: seqNo, _primary_term: primaryTerm, _source: source } = doc;
  if (typeof seqNo !== "number" || typeof primaryTerm !== "number" || !source) {
    throw new BackendError(
      BACKEND_NAME,
      `The server returned ${id} without _seq_no/_primary_term/_source.`,
    );
  }
  return { seqNo, primaryTerm, version: doc._version ?? -1, source };
}
