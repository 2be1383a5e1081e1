/** Status codes of the Cosmos DB REST API, and the translation of driver errors into core's typed errors. */
import { BackendConnectionError, BackendError, ResultStoreError } from "@resultstore/core";

/** The backend's name in errors and logs: `[resultstore] [cosmosdb] …`. */
export const BACKEND_NAME = "cosmosdb";

export const NOT_FOUND = 404;
export const CONFLICT = 409;
export const PRECONDITION_FAILED = 412;

/** Statuses worth retrying: timeout, throttled (after the SDK's own 429 retries), retry-with, unavailable. */
const TRANSIENT_STATUSES = new Set([408, 429, 449, 503]);
/** Socket-level failures; the request may not have reached the server. */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "TimeoutError", // the SDK's request timeout
]);

/** The HTTP status of a Cosmos error (the SDK puts it in `code`), or undefined for other failures. */
export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

function networkCode(error: unknown): string | undefined {
  for (let e = error; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    if (e === (e as { cause?: unknown }).cause) break;
  }
  return undefined;
}

/** Whether `error` (ours or the driver's) is a transient transport failure or throttling. */
export function isRetryableError(error: unknown): boolean {
  const cause = error instanceof ResultStoreError ? error.cause : error;
  const status = statusOf(cause);
  if (status !== undefined) return TRANSIENT_STATUSES.has(status);
  return networkCode(cause) !== undefined;
}

/** Wraps a driver failure into core's typed error; Cosmos messages never carry the account key. */
export function wrapError(action: string, error: unknown): ResultStoreError {
  if (error instanceof ResultStoreError) return error;
  const status = statusOf(error);
  const message = firstLine(error instanceof Error ? error.message : String(error));
  if (status === undefined && networkCode(error) !== undefined) {
    return new BackendConnectionError(BACKEND_NAME, `${action}: ${message}`, { cause: error });
  }
  return new BackendError(
    BACKEND_NAME,
    `${action} failed${status ? ` (HTTP ${status})` : ""}: ${message}`,
    { cause: error },
  );
}

/** Cosmos error messages embed a long JSON diagnostics blob after the first line. */
function firstLine(message: string): string {
  const line = message.split("\n", 1)[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
