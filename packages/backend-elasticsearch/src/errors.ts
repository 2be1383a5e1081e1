/** What search-client failures mean: core's typed errors, and which of them are safe to retry. */
import { defineErrorMapping } from "@resultstore/core";
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

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
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
