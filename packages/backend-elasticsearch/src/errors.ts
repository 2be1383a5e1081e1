/** What search-client failures mean: core's typed errors, and which of them are safe to retry. */
import { ConfigurationError } from "@resultstore/core";
import { defineErrorMapping, type ErrorMappingSpec } from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";

// Both clients name their errors alike (OpenSearch's client is a fork of Elasticsearch's 7.x one).
const TRANSPORT_FAILURES = new Set([
  "ConnectionError",
  "TimeoutError",
  "NoLivingConnectionsError",
  "RequestAbortedError",
]);

/** Statuses of a request the server (or a gateway before it) may have carried out. */
const MAYBE_APPLIED_STATUSES = new Set([500, 502, 504]);

interface DriverError {
  name?: string;
  message?: string;
  /** The transport's result: `meta.attempts` counts the client's re-sends (0: sent once). */
  meta?: {
    statusCode?: number;
    body?: { error?: { type?: string; reason?: string } | string };
    meta?: { attempts?: number };
  };
}

const driverError = (error: unknown) => (error ?? {}) as DriverError;

/**
 * Nothing left the client: the connection was refused, or no node was alive, and the client made
 * no earlier attempt (it re-sends after connection errors, up to `maxRetries`, and only the last
 * error is reported, so an earlier copy may have been sent before a refused one).
 */
function isUnsent(error: unknown): boolean {
  const { name, message, meta } = driverError(error);
  if ((meta?.meta?.attempts ?? 0) !== 0) return false;
  if (name === "NoLivingConnectionsError") return true;
  // Both clients put the socket's code in the message ("connect ECONNREFUSED 127.0.0.1:9200").
  return name === "ConnectionError" && /\bECONNREFUSED\b/.test(message ?? "");
}

/**
 * A write that may have taken effect: sent, then a timeout, a lost connection, a server error or a
 * gateway failure. 429 and 503 refuse before anything runs: definite, and retryable.
 */
function isWriteOutcomeUnknown(error: unknown): boolean {
  const { name, meta } = driverError(error);
  if (name !== undefined && TRANSPORT_FAILURES.has(name)) return !isUnsent(error);
  return MAYBE_APPLIED_STATUSES.has(meta?.statusCode as number);
}

/**
 * OpenSearch answers the Elasticsearch clients' (8+) `compatible-with` media type with HTTP 406:
 * a configuration error, which names the URL that works.
 */
function openSearchWithElasticClient(error: unknown): ConfigurationError | undefined {
  const meta = driverError(error).meta;
  if (meta?.statusCode !== 406 || !/compatible-with/.test(JSON.stringify(meta.body ?? ""))) return;
  return new ConfigurationError(
    BACKEND_NAME,
    "The server refused the Elasticsearch client's compatible-with media type (HTTP 406): it is " +
      "not Elasticsearch. For an OpenSearch server use an opensearch:// (or opensearch+https://) " +
      "URL, which builds the OpenSearch client (npm install @opensearch-project/opensearch).",
    { cause: error },
  );
}

const spec: ErrorMappingSpec = {
  backend: BACKEND_NAME,
  special: openSearchWithElasticClient,
  isTransport: (error) => TRANSPORT_FAILURES.has(driverError(error).name ?? ""),
  isUnsent,
  statusOf: (error) => {
    const status = driverError(error).meta?.statusCode;
    return typeof status === "number" ? status : undefined;
  },
  statusLabel: "HTTP",
  // Throttling and gateway trouble. 409 is ours to resolve (CAS); 401/403/500 will not heal by waiting.
  transientStatuses: [429, 502, 503, 504],
  // The server's error type and reason, where it sent them.
  detail: (error) => {
    const serverError = driverError(error).meta?.body?.error;
    return typeof serverError === "object" && serverError
      ? `${serverError.type}: ${serverError.reason}`
      : String(driverError(error).message ?? error);
  },
};

/** Failures of reads (and of calls that change nothing stored): a failed read may simply be retried. */
export const errors = defineErrorMapping(spec);

/**
 * Failures of requests that change documents: one that may have been applied is core's
 * `OutcomeUnknownError` (core narrows it to the write or increment that failed).
 */
export const writeErrors = defineErrorMapping({ ...spec, isOutcomeUnknown: isWriteOutcomeUnknown });
