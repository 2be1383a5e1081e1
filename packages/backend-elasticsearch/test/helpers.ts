/** Shared test wiring: fresh indexes per store, and a raw client that reads around the backend. */
import { randomUUID } from "node:crypto";
import { Client } from "@elastic/elasticsearch";
import { type RawRecord, type ServerTarget, serverTarget } from "@resultstore/conformance";
import { ResultStore, type ResultStoreOptions } from "@resultstore/core";
import { parseCeleryDate } from "@resultstore/core/backend";
import { IndexApi } from "../src/client.js";
import { resolveConfig } from "../src/config.js";

/** The backend's REST calls, for reading around it. */
export type Engine = IndexApi;

import {
  ElasticsearchBackend,
  type ElasticsearchBackendOptions,
  type SearchClientLike,
} from "../src/index.js";

/** `http://host:port` for the raw driver, from Celery's URL (its first node, for a cluster's). */
export function nodeOf(url: string): string {
  const parsed = new URL(
    url
      .replace(/^(?:elasticsearch|opensearch)(\+https?)?:/, (_, t) => `${t ? t.slice(1) : "http"}:`)
      .replace(/^([^:]*:\/\/[^/?#,]*),[^/?#]*/, "$1"),
  );
  return `${parsed.protocol}//${parsed.host}`;
}

export const freshIndex = (label = "rs-es") => `${label}-${randomUUID().slice(0, 12)}`;

/**
 * Which client the stores use: `RESULTSTORE_ES_CLIENT` = "elasticsearch" (default: built by the
 * backend from the URL with @elastic/elasticsearch 9.x), "elasticsearch8" (a caller-built 8.x
 * client) or "opensearch" (a caller-built @opensearch-project/opensearch client).
 */
export const CLIENT_UNDER_TEST = process.env.RESULTSTORE_ES_CLIENT ?? "elasticsearch";

/** A server the integration tests run against, and the client its users would install. */
export interface EngineTarget {
  engine: "elasticsearch" | "opensearch";
  target: ServerTarget;
  client: string;
}

/**
 * Elasticsearch (with CLIENT_UNDER_TEST) and OpenSearch (with @opensearch-project/opensearch: the
 * Elasticsearch clients 8+ refuse a server that is not Elasticsearch). In CI both are required.
 * The URL may name several nodes (a cluster's); the raw client then talks to the first.
 */
export function engineTargets(): EngineTarget[] {
  // RESULTSTORE_ES_ENGINES narrows the list (the cluster run tests Elasticsearch only).
  const only = process.env.RESULTSTORE_ES_ENGINES?.split(",");
  const engines = [
    { engine: "elasticsearch", envName: "ELASTICSEARCH", client: CLIENT_UNDER_TEST },
    { engine: "opensearch", envName: "OPENSEARCH", client: "opensearch" },
  ] as const;
  return engines
    .filter((e) => !only || only.includes(e.engine))
    .map(({ engine, envName, client }) => ({ engine, target: serverTarget(envName), client }));
}

async function callerClient(
  url: string,
  kind = CLIENT_UNDER_TEST,
): Promise<SearchClientLike | undefined> {
  const node = nodeOf(url);
  if (kind === "elasticsearch8") {
    const { Client: Client8 } = await import("elasticsearch8");
    return new Client8({ node });
  }
  if (kind === "opensearch") {
    const { Client: OpenSearchClient } = await import("@opensearch-project/opensearch");
    return new OpenSearchClient({ node });
  }
  return undefined;
}

export async function createStore(
  url: string,
  storeOptions?: ResultStoreOptions,
  backendOptions: ElasticsearchBackendOptions = {},
  kind = CLIENT_UNDER_TEST,
): Promise<ResultStore> {
  const client = await callerClient(url, kind);
  const backend = new ElasticsearchBackend({
    url,
    namespace: freshIndex(),
    ...(client && { client, closeClient: true }),
    ...backendOptions,
  });
  // The first write creates the index (0.9-1.6 s on a loaded box). Core stamps expiresAt before
  // the backend runs, so with a 1 s expiry that write would store an already-expired record:
  // create the index up front for stores with an expiry (a counter written and removed).
  if (storeOptions?.expires !== undefined && storeOptions.expires !== null) {
    await backend.incr("warm-up", 1, null);
    await backend.removeCounter("warm-up");
  }
  return new ResultStore(backend, storeOptions);
}

/** Another store on `store`'s index with its own client and caches: another process. */
export async function createPeer(
  url: string,
  store: ResultStore,
  kind = CLIENT_UNDER_TEST,
): Promise<ResultStore> {
  const client = await callerClient(url, kind);
  const namespace = (store.backend as ElasticsearchBackend).index;
  return new ResultStore(
    new ElasticsearchBackend({ url, namespace, ...(client && { client, closeClient: true }) }),
  );
}

/**
 * A raw REST client around the backend, for either engine: the client the engine's users install,
 * speaking plain REST paths (as the backend does), so one `readRaw` serves both.
 */
export async function rawEngine(url: string, kind: string): Promise<Engine> {
  const client =
    (await callerClient(url, kind)) ?? (new Client({ node: nodeOf(url) }) as SearchClientLike);
  return new IndexApi(client, resolveConfig({ client }));
}

/** What the engine holds for a task, read with the driver directly (realtime GET). */
export async function readRaw(
  raw: Engine,
  store: ResultStore,
  taskId: string,
): Promise<RawRecord | null> {
  const backend = store.backend as ElasticsearchBackend;
  const { body } = await raw.request(
    { method: "GET", path: `/${backend.index}/_doc/celery-task-meta-${taskId}` },
    { operation: `raw read of task ${taskId}`, ignore: [404] },
  );
  const doc = body as { found?: boolean; _source?: Record<string, unknown> };
  if (!doc.found || !doc._source) return null;
  const source = doc._source;
  const meta =
    typeof source.result === "string"
      ? (JSON.parse(source.result) as { status: string })
      : (source.result as { status: string });
  return {
    status: meta.status,
    metadata: typeof source.metadata === "string" ? JSON.parse(source.metadata) : {},
    expiresAt: parseCeleryDate(source.expires_at),
  };
}
