/** Driver errors as core's typed errors, and which of them are safe to retry. */
import { BackendConnectionError, BackendError, ResultStoreError } from "@resultstore/core";
import {
  MongoError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
} from "mongodb";
import { BACKEND_NAME } from "./config.js";

/** E11000: an upsert whose filter excluded the existing document (FerretDB names no index). */
export const DUPLICATE_KEY = 11000;
/** The server lacks a feature (FerretDB: TTL indexes). */
export const NOT_IMPLEMENTED = 238;
/** The index already exists with other options (e.g. `ttlIndex` switched between runs). */
export const INDEX_CONFLICTS: readonly number[] = [85, 86];
/** Dropping a collection that does not exist. */
export const NAMESPACE_NOT_FOUND = 26;

// Transient server conditions: failover, shutdown, timeouts, and throttling (Cosmos DB's Mongo API
// answers 16500 when the request rate is too large).
const TRANSIENT_CODES = new Set([
  6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 16500,
]);

export function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}

export function serverCode(error: unknown): number | undefined {
  return error instanceof MongoServerError && typeof error.code === "number"
    ? error.code
    : undefined;
}

/** Wraps a driver error (the message names the operation; the driver's messages carry no password). */
export function wrapError(error: unknown, operation: string): ResultStoreError {
  if (error instanceof ResultStoreError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) {
    return new BackendConnectionError(
      BACKEND_NAME,
      `${operation} failed: cannot reach the server (${detail}).`,
      { cause: error },
    );
  }
  const code = serverCode(error);
  return new BackendError(
    BACKEND_NAME,
    `${operation} failed${code === undefined ? "" : ` (code ${code})`}: ${detail}`,
    { cause: error },
  );
}

/** Transport failures and the server's transient codes or retryable labels; never a rejected write. */
export function isRetryable(error: unknown): boolean {
  const cause = error instanceof ResultStoreError ? error.cause : error;
  if (cause instanceof MongoNetworkError || cause instanceof MongoServerSelectionError) return true;
  if (!(cause instanceof MongoError)) return false;
  if (
    cause.hasErrorLabel("RetryableWriteError") ||
    cause.hasErrorLabel("TransientTransactionError")
  )
    return true;
  const code = serverCode(cause);
  return code !== undefined && TRANSIENT_CODES.has(code);
}
