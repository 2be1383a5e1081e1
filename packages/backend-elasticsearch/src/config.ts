/** Celery's Elasticsearch URL and our options, resolved and validated once, before any I/O. */
import { ConfigurationError } from "@resultstore/core";
import {
  assertUserinfoEncoded,
  celeryKeyPrefix,
  decodeUrlPart,
  enumOption,
  intOption,
  parseUrl,
  sanitizeUrl,
} from "@resultstore/core/backend";
import type { ElasticsearchBackendOptions, SearchDriver } from "./types.js";

/** The backend's name in errors and logs: `[resultstore] [elasticsearch] …`. */
export const BACKEND_NAME = "elasticsearch";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["elasticsearch", "opensearch"];

const DRIVERS: readonly SearchDriver[] = ["elasticsearch", "opensearch"];
/** Every client reads each shard from the same copy, so no read sees an older state than another. */
const DEFAULT_PREFERENCE = "resultstore";
/** Half of `http.max_content_length` (100 MB) minus room for our fields: JSON escaping can double the meta. */
const MAX_RECORD_BYTES_CEILING = 49 * 1024 * 1024;

/** What the backend is built from: every option resolved, every default applied, all checked. */
export type ResolvedConfig = ReturnType<typeof resolveConfig>;
/** How to build a client from options; unused when the caller passes one. */
export type ConnectionConfig = ResolvedConfig["connection"];

export function resolveConfig(options: ElasticsearchBackendOptions) {
  const url = parseCeleryUrl(options.url ?? "elasticsearch://localhost:9200");
  const index = options.namespace ?? options.index ?? url.index ?? "celery";
  validateIndexName(index);
  const driver = enumOption(options.driver, DRIVERS, "driver", BACKEND_NAME) ?? url.engine;
  if (url.engine === "opensearch" && driver !== "opensearch") {
    // The Elasticsearch clients (8+) refuse any server that is not Elasticsearch.
    throw invalid(
      `An opensearch:// URL needs the OpenSearch client (\`driver: "opensearch"\`, the default for it), got \`driver: "${driver}"\`.`,
    );
  }
  const maxRecordBytes = int(options.maxRecordBytes, "maxRecordBytes", 1024) ?? 10 * 1024 * 1024;
  if (maxRecordBytes > MAX_RECORD_BYTES_CEILING) {
    throw invalid(
      `Option \`maxRecordBytes\` is at most ${MAX_RECORD_BYTES_CEILING} (Elasticsearch's 100 MB request limit, halved for JSON escaping).`,
    );
  }
  const { number_of_replicas: replicas, wait_for_active_shards } = url.query;
  const numberOfReplicas = int(
    options.numberOfReplicas ?? (replicas === undefined ? undefined : Number(replicas)),
    "numberOfReplicas",
    0,
  );
  const shards = options.waitForActiveShards ?? wait_for_active_shards;
  const waitForActiveShards =
    shards === undefined || shards === "all"
      ? shards
      : int(Number(shards), "waitForActiveShards", 1);
  const preference =
    options.preference === undefined
      ? (url.query.preference ?? DEFAULT_PREFERENCE)
      : options.preference;
  if (preference !== null && (typeof preference !== "string" || preference === "")) {
    throw invalid(
      "Option `preference` must be a non-empty string (Elasticsearch's `preference`) or null.",
    );
  }
  // The query parameters of every read and write, and the settings of the index we create.
  const readParams: Record<string, string> = preference === null ? {} : { preference };
  const writeParams: Record<string, string | number> =
    waitForActiveShards === undefined ? {} : { wait_for_active_shards: waitForActiveShards };
  const indexSettings: Record<string, number> =
    numberOfReplicas === undefined ? {} : { number_of_replicas: numberOfReplicas };
  return {
    index,
    keyPrefix: celeryKeyPrefix(options.keyPrefix), // with Celery's separator
    readParams,
    writeParams,
    indexSettings,
    saveMetaAsText: options.saveMetaAsText ?? true,
    maxRecordBytes,
    cleanupBatchSize: int(options.cleanupBatchSize, "cleanupBatchSize", 1) ?? 1000,
    createIndex: options.createIndex ?? true,
    refreshBeforeFind: options.refreshBeforeFind ?? true,
    client: options.client, // the caller's; `connection` builds one when undefined
    ownsClient: !options.client || Boolean(options.closeClient), // `close()` closes it
    connection: {
      driver,
      nodes: url.nodes, // `http(s)://host:port`, never with credentials
      username: options.username ?? url.username,
      password: options.password ?? url.password,
      apiKey: options.apiKey,
      caCert: options.caCert,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      requestTimeout: int(options.requestTimeout, "requestTimeout", 1) ?? 10_000,
      maxRetries: int(options.maxRetries, "maxRetries", 0) ?? 3,
      retryOnTimeout: options.retryOnTimeout ?? false,
    },
  };
}

const int = (value: unknown, name: string, min: number) =>
  intOption(value, name, BACKEND_NAME, min);
const invalid = (message: string) => new ConfigurationError(BACKEND_NAME, message);

/** The query options a URL may carry (ours: Celery reads none). */
const QUERY_OPTIONS = ["number_of_replicas", "wait_for_active_shards", "preference"];

/**
 * `elasticsearch://[user:pw@]host[:port][/index]` as Celery reads it (`+https` for TLS), and ours:
 * `opensearch://`, and several comma-separated hosts for a cluster (Celery reads one).
 */
export function parseCeleryUrl(raw: string) {
  // An unencoded "/" in the password would put the rest of it into the index name and its error.
  assertUserinfoEncoded(raw, BACKEND_NAME);
  // WHATWG URLs hold one host: parse the URL with the first, then the others on their own.
  const [, head = "", userinfo = "", hostList = "", tail = ""] =
    /^([^:]*:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/s.exec(raw) ?? [];
  const [first = "", ...others] = hostList.split(",");
  const url = parseUrl(`${head}${userinfo}${first}${tail}`, BACKEND_NAME);
  const scheme = /^(elasticsearch|opensearch)(?:\+(https?))?:$/i.exec(url.protocol);
  if (!scheme) {
    throw invalid(
      `Expected an elasticsearch://, elasticsearch+https://, opensearch:// or opensearch+https:// URL, got ${sanitizeUrl(raw)}.`,
    );
  }
  const [index, docType, ...rest] = url.pathname.split("/").filter(Boolean);
  if (docType !== undefined || rest.length > 0) {
    // Celery still accepts a doc_type segment, but mapping types are gone since Elasticsearch 8.
    throw invalid(
      `The URL path may name only the index; mapping types (doc_type) were removed in Elasticsearch 8: ${sanitizeUrl(raw)}`,
    );
  }
  const engine: SearchDriver =
    scheme[1]?.toLowerCase() === "opensearch" ? "opensearch" : "elasticsearch";
  const protocol = scheme[2]?.toLowerCase() ?? "http";
  const nodeOf = (u: URL) => `${protocol}://${u.hostname || "localhost"}:${u.port || 9200}`;
  const nodes = [
    nodeOf(url),
    ...others.map((host) => nodeOf(parseUrl(`${head}${host}`, BACKEND_NAME))),
  ];
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (!QUERY_OPTIONS.includes(key)) {
      throw invalid(
        `Unknown URL option \`${key}\` in ${sanitizeUrl(raw)} (known: ${QUERY_OPTIONS.join(", ")}).`,
      );
    }
    query[key] = value;
  }
  return {
    engine, // the engine the scheme names: it picks the client unless `driver` is given
    nodes,
    query,
    index: index === undefined ? undefined : decodeUrlPart(index, "index name", BACKEND_NAME),
    username: url.username ? decodeUrlPart(url.username, "user name", BACKEND_NAME) : undefined,
    password: url.password ? decodeUrlPart(url.password, "password", BACKEND_NAME) : undefined,
  };
}

/** Elasticsearch's index-name rules, checked up front so a bad name fails before any request. */
const INDEX_NAME_RULES: [(name: string) => boolean, string][] = [
  [(name) => name.length === 0, "must be a non-empty string"],
  [(name) => name !== name.toLowerCase(), "must be lowercase"],
  [(name) => /[\\/*?"<>|,# :]/.test(name), 'must not contain \\ / * ? " < > | , # : or spaces'],
  [(name) => /^[-_+]/.test(name), "must not start with -, _ or +"],
  [(name) => name === "." || name === "..", 'must not be "." or ".."'],
  [(name) => Buffer.byteLength(name) > 255, "must be at most 255 bytes"],
];

export function validateIndexName(name: unknown): asserts name is string {
  const problem =
    typeof name === "string"
      ? INDEX_NAME_RULES.find(([breaks]) => breaks(name))?.[1]
      : "must be a non-empty string";
  if (problem) {
    throw invalid(
      `Index name ${JSON.stringify(name)} ${problem} (used for \`index\`, \`namespace\` or the URL path).`,
    );
  }
}
