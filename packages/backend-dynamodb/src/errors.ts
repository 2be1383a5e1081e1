/** What AWS SDK failures mean: core's typed errors, and which of them are safe to retry. */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ValueTooLargeError } from "@resultstore/core";
import {
  defineErrorMapping,
  type ErrorMappingSpec,
  isConnectionRefused,
  isNetworkError,
} from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";

/** DynamoDB's own limit on one item (attribute names plus values), in bytes. */
export const ITEM_LIMIT_BYTES = 400 * 1024;

/** A ConditionExpression did not hold: the expected "no" of every guarded request. */
export const CONDITION_FAILED = "ConditionalCheckFailedException";

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: unknown };
}

/** Whether the SDK sent a request more than once: `$metadata.attempts`, on answers and errors. */
export function sentAgain(answer: unknown): boolean {
  const attempts = (answer as SdkError | undefined)?.$metadata?.attempts;
  return typeof attempts === "number" && attempts > 1;
}

// The SDK's own names for requests that never completed.
const TRANSPORT = new Set(["TimeoutError", "RequestTimeout", "NetworkingError", "AbortError"]);

function isTransport(error: unknown): boolean {
  const sdk = error as SdkError | null | undefined;
  if (isNetworkError(error) || TRANSPORT.has(sdk?.name ?? "")) return true;
  const unanswered = sdk?.$metadata?.httpStatusCode === undefined;
  return unanswered && /socket hang up|ECONN|connect/i.test(sdk?.message ?? "");
}

/** Set by {@link trackAttempts}: whether any attempt so far may have been sent, or applied. */
const ATTEMPTS = Symbol("resultstore.dynamodb.attempts");

type Marked = { [ATTEMPTS]?: { maybeSent: boolean; maybeLanded: boolean } };

/** An attempt that failed without an answer saying it was not applied: cut, timed out, or a 5xx. */
export function attemptMayHaveLanded(error: unknown): boolean {
  if (isConnectionRefused(error)) return false;
  const status = (error as SdkError | null)?.$metadata?.httpStatusCode;
  return status === undefined ? isTransport(error) : status >= 500;
}

/** Marks each attempt's error with what any so far may have done: the SDK reports only the last. */
export function trackAttempts(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const seen = (context as Marked)[ATTEMPTS] ?? { maybeSent: false, maybeLanded: false };
        seen.maybeSent ||= !isConnectionRefused(error);
        seen.maybeLanded ||= attemptMayHaveLanded(error);
        (context as Marked)[ATTEMPTS] = seen;
        if (typeof error === "object" && error !== null) (error as Marked)[ATTEMPTS] = { ...seen };
        throw error;
      }
    },
    { step: "deserialize", priority: "high", name: "resultstoreAttempts", override: true },
  );
}

/** Nothing was sent: every attempt's connection was refused (a caller's client: its only one). */
function isUnsent(error: unknown): boolean {
  if (!isConnectionRefused(error)) return false;
  const seen = (error as Marked)[ATTEMPTS];
  return seen ? !seen.maybeSent : (error as SdkError).$metadata?.attempts === 1;
}

/** Some attempt got no answer or a 5xx (on a caller's client: the last one, or it was resent). */
function mayHaveLanded(error: unknown): boolean {
  const seen = (error as Marked | null)?.[ATTEMPTS];
  if (seen) return seen.maybeLanded;
  return !isUnsent(error) && (sentAgain(error) || attemptMayHaveLanded(error));
}

const spec: ErrorMappingSpec = {
  backend: BACKEND_NAME,
  isTransport,
  isUnsent,
  statusOf: (error) => (error as SdkError | null | undefined)?.name,
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
  special: (cause) =>
    (cause as SdkError).name === "ValidationException" &&
    /item size/i.test((cause as Error).message ?? "")
      ? new ValueTooLargeError(BACKEND_NAME, ITEM_LIMIT_BYTES + 1, ITEM_LIMIT_BYTES, { cause })
      : undefined,
};

/** Reads, deletes, group saves and table setup: a failure is transient or final, never "maybe". */
export const errors = defineErrorMapping(spec);

/** Task writes, increments and set adds: a failure that {@link mayHaveLanded} is "maybe". */
export const writeErrors = defineErrorMapping({ ...spec, isOutcomeUnknown: mayHaveLanded });
