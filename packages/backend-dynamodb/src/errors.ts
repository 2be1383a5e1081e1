/** Turning SDK failures into core's typed errors, and telling transient ones apart. */
import {
  BackendConnectionError,
  BackendError,
  ResultStoreError,
  ValueTooLargeError,
} from "@resultstore/core";

/** The backend's name in errors and logs: `[resultstore] [dynamodb] …`. */
export const BACKEND_NAME = "dynamodb";

/** DynamoDB's own limit on one item (attribute names plus values), in bytes. */
export const ITEM_LIMIT_BYTES = 400 * 1024;

/** Service errors that mean "slow down or try again", never "your request is wrong". */
const TRANSIENT_NAMES = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "InternalServerError",
  "ServiceUnavailable",
  "TransactionConflictException",
]);

/** Node and SDK transport failures: the request may not have reached the server. */
const TRANSPORT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
]);
const TRANSPORT_NAMES = new Set([
  "TimeoutError",
  "RequestTimeout",
  "NetworkingError",
  "AbortError",
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

function isTransport(error: SdkError): boolean {
  if (error.code && TRANSPORT_CODES.has(error.code)) return true;
  if (error.name && TRANSPORT_NAMES.has(error.name)) return true;
  return (
    error.$metadata?.httpStatusCode === undefined &&
    /socket hang up|ECONN|connect/i.test(error.message ?? "")
  );
}

/** Whether `error` (ours, wrapping the SDK's, or the SDK's own) is transient and safe to retry. */
export function isRetryableError(error: unknown): boolean {
  const inner = (error instanceof ResultStoreError ? error.cause : error) as SdkError | undefined;
  if (!inner || typeof inner !== "object") return false;
  if (inner.name && TRANSIENT_NAMES.has(inner.name)) return true;
  const status = inner.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  return isTransport(inner);
}

/** The SDK error name, e.g. "ConditionalCheckFailedException", or undefined. */
export function errorName(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? (error as SdkError).name : undefined;
}

/**
 * Wraps an SDK failure in core's typed errors, naming what we were doing. Messages carry the
 * SDK's message (never credentials: the SDK does not echo them).
 */
export function wrapError(error: unknown, doing: string): Error {
  if (error instanceof ResultStoreError) return error;
  const sdk = (error ?? {}) as SdkError;
  if (sdk.name === "ValidationException" && /item size/i.test(sdk.message ?? "")) {
    // The merged item outgrew 400 KB (a write's own size is checked before sending).
    return Object.assign(
      new ValueTooLargeError(BACKEND_NAME, ITEM_LIMIT_BYTES + 1, ITEM_LIMIT_BYTES),
      { cause: error },
    );
  }
  const message = `${doing} failed: ${sdk.name ?? "Error"}: ${sdk.message ?? String(error)}`;
  if (isTransport(sdk)) return new BackendConnectionError(BACKEND_NAME, message, { cause: error });
  return new BackendError(BACKEND_NAME, message, { cause: error });
}
