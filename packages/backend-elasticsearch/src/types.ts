/**
 * The part of a client this backend uses: `transport.request` (the REST API itself) and `close()`.
 * `@elastic/elasticsearch` (8.x, 9.x) and `@opensearch-project/opensearch` (2.x, 3.x) clients
 * both have this shape, so either can be passed as `client`.
 */
export interface SearchClientLike {
  /** The client's transport, which sends every REST call. */
  transport: {
    /** Sends one call; resolves with the parsed body (or `{ body }`, as the client answers). */
    request(params: TransportParams, options?: Record<string, unknown>): Promise<unknown>;
  };
  /** Closes the client's connections. */
  close(): Promise<unknown>;
}

/** One REST call as both clients' transports take it. */
export interface TransportParams {
  method: string;
  path: string;
  /** A pre-serialised JSON string (sent as is) or an object (serialised by the client). */
  body?: string | Record<string, unknown>;
  /** NDJSON lines for `_bulk`. */
  bulkBody?: Record<string, unknown>[];
  querystring?: Record<string, string | number | boolean>;
}

/** Which package builds the client when the backend creates it from a URL. */
export type SearchDriver = "elasticsearch" | "opensearch";

/** Options of {@link ElasticsearchBackend}, each with the Celery setting it corresponds to. */
export interface ElasticsearchBackendOptions {
  /**
   * Celery's URL: `elasticsearch://[user:pw@]host[:port][/index]`, `elasticsearch+https://…` for
   * TLS; `opensearch://…` or `opensearch+https://…` for an OpenSearch server (the OpenSearch
   * client is built). With `client`, only the index is read from it.
   * @default "elasticsearch://localhost:9200"
   */
  url?: string;
  /** A client you built (either package): its own auth, TLS, retries and timeouts apply. */
  client?: SearchClientLike;
  /** Close a caller-built `client` in `close()`. @default false */
  closeClient?: boolean;
  /** Package that builds the client from `url`. @default "opensearch" for opensearch:// URLs, else "elasticsearch" */
  driver?: SearchDriver;
  /**
   * The index (Celery: the URL's first path segment); `namespace` wins over it. Lowercase, at most
   * 255 bytes, none of `\ / * ? " < > | , # :` or spaces, not starting with `-`, `_` or `+`.
   * @default "celery"
   */
  index?: string;
  /** Isolation unit from `createStore({ backendOptions: { namespace } })`: used as the index name. */
  namespace?: string;
  /** Basic auth user; overrides the URL's. */
  username?: string;
  /** Basic auth password; overrides the URL's. */
  password?: string;
  /** An API key: the encoded `id:api_key` string, or `{ id, api_key }`. No Celery equivalent. */
  apiKey?: string | { id: string; api_key: string };
  /** PEM certificate(s) of the CA that signed the server's certificate, for `+https` URLs. */
  caCert?: string | Buffer;
  /** Verify the server certificate (off for throwaway test clusters only). @default true */
  rejectUnauthorized?: boolean;
  /** Milliseconds per request. (Celery: `elasticsearch_timeout`, 10 seconds.) @default 10000 */
  requestTimeout?: number;
  /** Client-level retries of failed requests. (Celery: `elasticsearch_max_retries`.) @default 3 */
  maxRetries?: number;
  /** Also retry requests that timed out. (Celery: `elasticsearch_retry_on_timeout`.) @default false */
  retryOnTimeout?: boolean;
  /**
   * Store the meta as Celery's JSON text in `result` (true) or as an object whose inner `result`
   * and `traceback` are JSON text (false); reads take both. (Celery:
   * `elasticsearch_save_meta_as_text`.) @default true
   */
  saveMetaAsText?: boolean;
  /**
   * Prefix of every document id, with Celery's separator rule (`x` → `x_celery-task-meta-…`).
   * (Celery: `result_backend_transport_options["global_keyprefix"]`.) @default ""
   */
  keyPrefix?: string;
  /**
   * Largest record core may hand us, in bytes; at most 49 MiB (the meta is embedded as a JSON
   * string, which can double it, within Elasticsearch's 100 MB `http.max_content_length`).
   * @default 10485760 (10 MiB; see the README on heap and indexing pressure)
   */
  maxRecordBytes?: number;
  /** Documents `cleanup()` finds and deletes per page. @default 1000 */
  cleanupBatchSize?: number;
  /**
   * Create the index with our mapping on the first write, or add `find`'s fields to the mapping
   * of one that exists. False: the operator provisions it (README, "Finding tasks", gives the
   * mapping) and the backend never changes an index.
   * @default true
   */
  createIndex?: boolean;
  /**
   * `find` and `countByState` refresh the index first (`POST <index>/_refresh`), so they see every
   * write that returned; false: they see what the index's own refresh (1 s by default) made
   * searchable, one request less (README, "Finding tasks").
   * @default true
   */
  refreshBeforeFind?: boolean;
  /** `number_of_replicas` of the index we create (URL: `?number_of_replicas=N`). @default the server's (1) */
  numberOfReplicas?: number;
  /**
   * `wait_for_active_shards` of every write (URL: `?wait_for_active_shards=N|all`).
   * @default the server's (1: the primary)
   */
  waitForActiveShards?: number | "all";
  /**
   * `preference` of every read: one copy answers all reads of a shard, so no read sees an older
   * state than one before it (README, "Running against a cluster"); `null`: the server picks.
   * (URL: `?preference=VALUE`.) @default "resultstore"
   */
  preference?: string | null;
}
