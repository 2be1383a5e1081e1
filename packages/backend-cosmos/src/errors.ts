/** What Cosmos DB failures mean: core's typed errors, and which of them are safe to retry. */
import { type ErrorResponse, StatusCodes } from "@azure/cosmos";
import { ValueTooLargeError } from "@resultstore/core";
import {
  defineErrorMapping,
  type ErrorMappingSpec,
  isConnectionRefused,
  isNetworkError,
} from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";
import { ITEM_LIMIT_BYTES } from "./records.js";

/** The HTTP status of a Cosmos error (the SDK puts it in `code`), or undefined for other failures. */
function httpStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** Socket-level failures (the SDK's request timeout among them): no status, nothing answered. */
const isTransport = (error: unknown) => httpStatus(error) === undefined && isNetworkError(error);

/** Nothing was sent: the connection was refused, as was every attempt the SDK made before. */
function isUnsent(error: unknown): boolean {
  if (httpStatus(error) !== undefined || !isConnectionRefused(error)) return false;
  const { diagnostics } = error as ErrorResponse;
  const earlier = diagnostics?.clientSideRequestStatistics?.retryDiagnostics?.failedAttempts ?? [];
  // Typed as a number, but a socket failure's code is what the SDK records there.
  return earlier.every((attempt) => String(attempt.statusCode) === "ECONNREFUSED");
}

/** A document over Cosmos DB's 2 MB item limit (e.g. a set grown too large). */
const tooLarge = (error: unknown) =>
  httpStatus(error) === StatusCodes.RequestEntityTooLarge
    ? new ValueTooLargeError(BACKEND_NAME, ITEM_LIMIT_BYTES + 1, ITEM_LIMIT_BYTES, { cause: error })
    : undefined;

const spec: ErrorMappingSpec = {
  backend: BACKEND_NAME,
  isTransport,
  isUnsent,
  statusOf: httpStatus,
  statusLabel: "HTTP",
  // Timeout, throttled (after the SDK's own 429 retries), retry-with, unavailable.
  transientStatuses: [408, 429, 449, 503],
  special: tooLarge,
};

/** Reads, deletes and other idempotent calls: a failure is transient or final, never "maybe". */
export const errors = defineErrorMapping(spec);

/** Writes and increments: 408, 500, 503 or a socket failure once connected may have landed (README: Errors). */
export const writeErrors = defineErrorMapping({
  ...spec,
  isOutcomeUnknown: (error) => {
    const status = httpStatus(error);
    if (status !== undefined) return [408, 500, 503].includes(status);
    return isTransport(error) && !isUnsent(error);
  },
});
