/** What Cosmos DB failures mean: core's typed errors, and which of them are safe to retry. */
import { ValueTooLargeError } from "@resultstore/core";
import {
  defineErrorMapping,
  type ErrorMappingSpec,
  isConnectionRefused,
  isNetworkError,
} from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";
import { ITEM_LIMIT_BYTES } from "./records.js";

export const NOT_FOUND = 404;
export const CONFLICT = 409;
export const PRECONDITION_FAILED = 412;
/** What Cosmos DB answers for a document over its 2 MB limit (e.g. a set grown too large). */
export const TOO_LARGE = 413;

/** What the local emulator answers for a write into a container that no longer exists. */
export const INTERNAL_ERROR = 500;

/** The HTTP status of a Cosmos error (the SDK puts it in `code`), or undefined for other failures. */
function httpStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** What the SDK recorded of the attempts it made before the one that failed (its own retries). */
interface Diagnosed {
  diagnostics?: {
    clientSideRequestStatistics?: {
      retryDiagnostics?: { failedAttempts?: { statusCode?: unknown }[] };
    };
  };
}

/** Socket-level failures (the SDK's request timeout among them): no status, nothing answered. */
const isTransport = (error: unknown) => httpStatus(error) === undefined && isNetworkError(error);

/**
 * Nothing was sent: the connection was refused, and so was every attempt the SDK made before
 * (it retries only some failures by itself, e.g. DNS failures, and records each in its
 * diagnostics; a refused connection it does not retry).
 */
function isUnsent(error: unknown): boolean {
  if (httpStatus(error) !== undefined || !isConnectionRefused(error)) return false;
  const earlier =
    (error as Diagnosed).diagnostics?.clientSideRequestStatistics?.retryDiagnostics
      ?.failedAttempts ?? [];
  return earlier.every((attempt) => attempt.statusCode === "ECONNREFUSED");
}

const spec: ErrorMappingSpec = {
  backend: BACKEND_NAME,
  isTransport,
  isUnsent,
  statusOf: httpStatus,
  statusLabel: "HTTP",
  // Timeout, throttled (after the SDK's own 429 retries), retry-with, unavailable.
  transientStatuses: [408, 429, 449, 503],
  special: (error) =>
    httpStatus(error) === TOO_LARGE
      ? new ValueTooLargeError(BACKEND_NAME, ITEM_LIMIT_BYTES + 1, ITEM_LIMIT_BYTES, {
          cause: error,
        })
      : undefined,
};

/** Reads, deletes and other idempotent calls: a failure is transient or final, never "maybe". */
export const errors = defineErrorMapping(spec);

/**
 * Server statuses that say a write reached Cosmos DB but not how it ended: 408 (the service timed
 * out; Cosmos documents that a write may have succeeded), 500 and 503 (taken as unknown too: the
 * SDK re-sends a write after a 503 only on accounts with several write regions).
 */
const WRITE_OUTCOME_UNKNOWN = new Set([408, 500, 503]);

/**
 * Task writes and increments (create, replace, patch): a failure after the request may have
 * reached the server — one of those statuses, or a socket failure or client-side timeout after
 * the connection was made — is an `OutcomeUnknownError`, which core narrows to the write or
 * increment that failed. The SDK does not re-send a write after a socket failure or its own
 * timeout (it does so only for reads and queries).
 */
export const writeErrors = defineErrorMapping({
  ...spec,
  isOutcomeUnknown: (error) => {
    const status = httpStatus(error);
    if (status !== undefined) return WRITE_OUTCOME_UNKNOWN.has(status);
    return isTransport(error) && !isUnsent(error);
  },
});

/** The HTTP status of a Cosmos error, also inside one of ours. */
export const statusOf = (error: unknown) => errors.statusOf(error) as number | undefined;
