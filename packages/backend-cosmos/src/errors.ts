/** What Cosmos DB failures mean: core's typed errors, and which of them are safe to retry. */
import { defineErrorMapping, isNetworkError } from "@resultstore/core";
import { BACKEND_NAME } from "./config.js";

export const NOT_FOUND = 404;
export const CONFLICT = 409;
export const PRECONDITION_FAILED = 412;
/** What the local emulator answers for a write into a container that no longer exists. */
export const INTERNAL_ERROR = 500;

/** The HTTP status of a Cosmos error (the SDK puts it in `code`), or undefined for other failures. */
function httpStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
  // Socket-level failures (the SDK's request timeout among them): no status, nothing answered.
  isTransport: (error) => httpStatus(error) === undefined && isNetworkError(error),
  statusOf: httpStatus,
  statusLabel: "HTTP",
  // Timeout, throttled (after the SDK's own 429 retries), retry-with, unavailable.
  transientStatuses: [408, 429, 449, 503],
});

/** The HTTP status of a Cosmos error, also inside one of ours. */
export const statusOf = (error: unknown) => errors.statusOf(error) as number | undefined;
