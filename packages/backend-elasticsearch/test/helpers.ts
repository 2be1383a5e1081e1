/** Shared test wiring: fresh indexes per store, and a raw client that reads around the backend. */
import { randomUUID } from "node:crypto";
import type { Client } from "@elastic/elasticsearch";
import type { RawRecord } from "@resultstore/conformance";
import { parseCeleryDate, ResultStore, type ResultStoreOptions } from "@resultstore/core";
import {
  ElasticsearchBackend,
  type ElasticsearchBackendOptions,
  type SearchClientLike,
} from "../src/index.js";

/** `http://host:port` for the raw driver, from Celery's URL. */
export function nodeOf(url: string): string {
  const parsed = new URL(
    url.replace(/^elasticsearch(\+https?)?:/, (_, t) => `${t ? t.slice(1) : "http"}:`),
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

async function callerClient(url: string): Promise<SearchClientLike | undefined> {
  const node = nodeOf(url);
  if (CLIENT_UNDER_TEST === "elasticsearch8") {
    const { Client: Client8 } = await import("elasticsearch8");
    return new Client8({ node });
  }
  if (CLIENT_UNDER_TEST === "opensearch") {
    const { Client: OpenSearchClient } = await import("@opensearch-project/opensearch");
    return new OpenSearchClient({ node });
  }
  return undefined;
}

export async function createStore(
  url: string,
  storeOptions?: ResultStoreOptions,
  backendOptions: ElasticsearchBackendOptions = {},
): Promise<ResultStore> {
  const client = await callerClient(url);
  return new ResultStore(
    new ElasticsearchBackend({
      url,
      namespace: freshIndex(),
      ...(client && { client, closeClient: true }),
      ...backendOptions,
    }),
    storeOptions,
  );
}

/** What Elasticsearch holds for a task, read with the driver directly (realtime GET). */
export async function readRaw(
  raw: Client,
  store: ResultStore,
  taskId: string,
): Promise<RawRecord | null> {
  const backend = store.backend as ElasticsearchBackend;
  const doc = await raw.get<Record<string, unknown>>(
    { index: backend.index, id: `celery-task-meta-${taskId}` },
    { ignore: [404] },
  );
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
