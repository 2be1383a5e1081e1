/** What search-client failures mean: core's typed errors, and which of them are safe to retry. */
import { ConfigurationError, defineErrorMapping } from "@resultstore/core";
import { BACKEND_NAME } from "./config.js";

// Both clients name their errors alike (OpenSearch's client is a fork of Elasticsearch's 7.x one).
const TRANSPORT_FAILURES = new Set([
  "ConnectionError",
  "TimeoutError",
  "NoLivingConnectionsError",
  "RequestAbortedError",
]);

interface DriverError {
  name?: string;
  message?: string;
  meta?: { statusCode?: number; body?: { error?: { type?: string; reason?: string } | string } };
}

/**
 * The Elasticsearch clients (8+) send `compatible-with=<major>` media types, which OpenSearch answers
 * with HTTP 406: the URL named an OpenSearch server with the Elasticsearch client. Configuration, not
 * a server failure, so the typed error names the URL that works.
 */
function openSearchWithElasticClient(error: unknown): ConfigurationError | undefined {
  const meta = (error as DriverError | null)?.meta;
  if (meta?.statusCode !== 406 || !/compatible-with/.test(JSON.stringify(meta.body ?? ""))) return;
  return new ConfigurationError(
    BACKEND_NAME,
    "The server refused the Elasticsearch client's compatible-with media type (HTTP 406): it is " +
      "not Elasticsearch. For an OpenSearch server use an opensearch:// (or opensearch+https://) " +
      "URL, which builds the OpenSearch client (npm install @opensearch-project/opensearch).",
    { cause: error },
  );
}

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
  special: openSearchWithElasticClient,
  isTransport: (error) => TRANSPORT_FAILURES.has((error as DriverError | null)?.name ?? ""),
  statusOf: (error) => {
    const status = (error as DriverError | null)?.meta?.statusCode;
    return typeof status === "number" ? status : undefined;
  },
  statusLabel: "HTTP",
  // Throttling and gateway trouble. 409 is ours to resolve (CAS); 401/403/500 will not heal by waiting.
  transientStatuses: [429, 502, 503, 504],
  // The server's error type and reason, where it sent them.
  detail: (error) => {
    const serverError = (error as DriverError | null)?.meta?.body?.error;
    return typeof serverError === "object" && serverError
      ? `${serverError.type}: ${serverError.reason}`
      : String((error as DriverError | null)?.message ?? error);
  },
});
