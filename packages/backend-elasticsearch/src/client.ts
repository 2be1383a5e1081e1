/**
 * The narrow interface between the backend and a search client. Both `@elastic/elasticsearch` and
 * `@opensearch-project/opensearch` expose `transport.request`, the REST API itself, so we speak
 * REST paths (stable across Elasticsearch 7–9 and OpenSearch 1–3) instead of either client's
 * typed methods, whose parameter names differ (`document` vs `body`). Their responses differ too:
 * OpenSearch (and the 7.x Elasticsearch client) always resolve `{ body, statusCode, … }`;
 * Elasticsearch 8+ resolves the bare body unless asked for `meta: true`, which we always ask.
 */
import { ConfigurationError } from "@resultstore/core";
import { BACKEND_NAME, type ConnectionConfig } from "./config.js";
import { errors, writeErrors } from "./errors.js";
import type { SearchClientLike, TransportParams } from "./types.js";

export interface RequestOptions {
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
  request(params: TransportParams, options?: RequestOptions): Promise<EngineResponse>;
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
    request(params, { ignore = [], maxRetries, mutates = false } = {}) {
      const options = {
        ...defaults,
        ignore: [...ignore],
        // Elasticsearch 8+'s switch for `{ body, statusCode }`; OpenSearch answers that anyway.
        meta: true,
        ...(maxRetries !== undefined && { maxRetries }),
        // Clients send a pre-serialised string as text/plain, which Elasticsearch refuses.
        ...(typeof params.body === "string" && { headers: JSON_CONTENT }),
      };
      return (mutates ? writeErrors : errors).guard(`${params.method} ${params.path}`, async () =>
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

/** Builds a client from options with the chosen driver, loaded only now (a peer dependency). */
export async function buildClient(config: ConnectionConfig): Promise<SearchClientLike> {
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
    throw new ConfigurationError(
      BACKEND_NAME,
      `This backend needs its driver: npm install ${name}`,
      {
        cause,
      },
    );
  }
}
