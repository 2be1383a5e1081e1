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

/**
 * Whether the SDK sent a request more than once (its own retry after a failure or a lost answer):
 * it counts its attempts in `$metadata.attempts`, on answers and errors alike (1: sent once).
 */
export function sentAgain(answer: unknown): boolean {
  const attempts = (answer as SdkError | undefined)?.$metadata?.attempts;
  return typeof attempts === "number" && attempts > 1;
}

/** The SDK error name, e.g. "ConditionalCheckFailedException", or undefined. */
export const errorName = (error: unknown) => (error as SdkError | null | undefined)?.name;

// The SDK's own names for requests that never completed.
const TRANSPORT = new Set(["TimeoutError", "RequestTimeout", "NetworkingError", "AbortError"]);

function isTransport(error: unknown): boolean {
  const sdk = error as SdkError | null | undefined;
  if (isNetworkError(error) || TRANSPORT.has(sdk?.name ?? "")) return true;
  const unanswered = sdk?.$metadata?.httpStatusCode === undefined;
  return unanswered && /socket hang up|ECONN|connect/i.test(sdk?.message ?? "");
}

/** Set on every failed attempt's error by {@link trackAttempts}: whether any attempt so far may have sent. */
const MAY_HAVE_SENT = Symbol("resultstore.dynamodb.mayHaveSent");
/** Likewise: whether any attempt so far may have been applied (no answer, or a 5xx one). */
const MAY_HAVE_LANDED = Symbol("resultstore.dynamodb.mayHaveLanded");

type Marks = { [MAY_HAVE_SENT]?: boolean; [MAY_HAVE_LANDED]?: boolean };

/** An attempt that failed without an answer saying it was not applied: cut, timed out, or a 5xx. */
export function attemptMayHaveLanded(error: unknown): boolean {
  if (isConnectionRefused(error)) return false;
  const status = (error as SdkError | null)?.$metadata?.httpStatusCode;
  return status === undefined ? isTransport(error) : status >= 500;
}

/**
 * Lets errors say whether the SDK may have sent the request at all. The SDK re-sends a failed
 * request (`maxAttempts`) and reports only the last attempt's error, so a refused connection after
 * an attempt that timed out says nothing about that earlier one. This middleware sits below the
 * SDK's retry, sees every attempt, and marks each failed attempt's error with whether any attempt
 * so far failed otherwise than by a refused connection (the one failure that provably sent
 * nothing), and whether any may have been applied (one that got no answer, or a 5xx: a 4xx says
 * it was not). Installed on clients we build; a caller's client is left as it is.
 */
export function trackAttempts(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const attempts = context as Marks;
        if (!isConnectionRefused(error)) attempts[MAY_HAVE_SENT] = true;
        if (attemptMayHaveLanded(error)) attempts[MAY_HAVE_LANDED] = true;
        if (typeof error === "object" && error !== null) {
          const marks = error as Marks;
          marks[MAY_HAVE_SENT] = attempts[MAY_HAVE_SENT] ?? false;
          marks[MAY_HAVE_LANDED] = attempts[MAY_HAVE_LANDED] ?? false;
        }
        throw error;
      }
    },
    { step: "deserialize", priority: "high", name: "resultstoreAttempts", override: true },
  );
}

/**
 * Nothing was sent: the connection was refused, and so was every earlier attempt the SDK made (as
 * {@link trackAttempts} recorded), or there was no earlier attempt (a caller's client).
 */
function isUnsent(error: unknown): boolean {
  if (!isConnectionRefused(error)) return false;
  const marked = (error as Marks)[MAY_HAVE_SENT];
  return marked !== undefined ? !marked : (error as SdkError).$metadata?.attempts === 1;
}

/**
 * A failed write or increment may have been applied: some attempt of it got no answer (cut or
 * timed out after the connection was made) or a 5xx, as {@link trackAttempts} recorded; on a
 * caller's client, the last attempt did, or the SDK had sent it more than once.
 */
function mayHaveLanded(error: unknown): boolean {
  const marked = (error as Marks | null)?.[MAY_HAVE_LANDED];
  if (marked !== undefined) return marked;
  return !isUnsent(error) && (sentAgain(error) || attemptMayHaveLanded(error));
}

const spec: ErrorMappingSpec = {
  backend: BACKEND_NAME,
  isTransport,
  isUnsent,
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
  special: (cause) =>
    errorName(cause) === "ValidationException" && /item size/i.test((cause as Error).message ?? "")
      ? new ValueTooLargeError(BACKEND_NAME, ITEM_LIMIT_BYTES + 1, ITEM_LIMIT_BYTES, { cause })
      : undefined,
};

/** Reads, deletes, group saves and table setup: a failure is transient or final, never "maybe". */
export const errors = defineErrorMapping(spec);

/**
 * Task writes, increments and set adds: a failure that {@link mayHaveLanded} is an
 * `OutcomeUnknownError`, which core narrows to the write or increment that failed.
 */
export const writeErrors = defineErrorMapping({ ...spec, isOutcomeUnknown: mayHaveLanded });
