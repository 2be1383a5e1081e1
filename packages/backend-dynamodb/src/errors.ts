/** What AWS SDK failures mean: core's typed errors, and which of them are safe to retry. */
import { defineErrorMapping, isNetworkError, ValueTooLargeError } from "@resultstore/core";
import { BACKEND_NAME } from "./config.js";

/** DynamoDB's own limit on one item (attribute names plus values), in bytes. */
export const ITEM_LIMIT_BYTES = 400 * 1024;

/** A ConditionExpression did not hold: the expected "no" of every guarded request. */
export const CONDITION_FAILED = "ConditionalCheckFailedException";

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The SDK error name, e.g. "ConditionalCheckFailedException", or undefined. */
/**
 * Whether the SDK sent a request more than once (its own retry after a failure or a lost answer):
 * it counts its attempts in `$metadata.attempts`, on answers and errors alike (1: sent once).
 */
export function sentAgain(answer: unknown): boolean {
  const attempts = (answer as { $metadata?: { attempts?: unknown } } | undefined)?.$metadata
    ?.attempts;
  return typeof attempts === "number" && attempts > 1;
}

export function errorName(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? (error as SdkError).name : undefined;
}

// The SDK's own names for requests that never completed.
const TRANSPORT_NAMES = new Set([
  "TimeoutError",
  "RequestTimeout",
  "NetworkingError",
  "AbortError",
]);

function isTransport(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const sdk = error as SdkError;
  if (isNetworkError(error) || TRANSPORT_NAMES.has(sdk.name ?? "")) return true;
  return (
    sdk.$metadata?.httpStatusCode === undefined &&
    /socket hang up|ECONN|connect/i.test(sdk.message ?? "")
  );
}

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
  isTransport,
  statusOf: errorName,
  // Service errors that mean "slow down or try again", never "your request is wrong".
  transientStatuses: [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
  ],
  isTransient: (error) => ((error as SdkError | null)?.$metadata?.httpStatusCode ?? 0) >= 500,
  // The merged item outgrew 400 KB (a write's own size is checked before sending).
  special: (error) =>
    errorName(error) === "ValidationException" && /item size/i.test((error as Error).message ?? "")
      ? new ValueTooLargeError(BACKEND_NAME, ITEM_LIMIT_BYTES + 1, ITEM_LIMIT_BYTES, {
          cause: error,
        })
      : undefined,
});
