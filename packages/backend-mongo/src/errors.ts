/** What MongoDB driver failures mean: core's typed errors, and which of them are safe to retry. */
import { ValueTooLargeError } from "@resultstore/core";
import { defineErrorMapping } from "@resultstore/core/backend";
import {
  MongoError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoWriteConcernError,
} from "mongodb";
import { BACKEND_NAME } from "./config.js";

/** E11000: an upsert whose filter excluded the existing document (FerretDB names no index). */
export const DUPLICATE_KEY = 11000;
/** The server lacks a feature (FerretDB: TTL indexes). */
export const NOT_IMPLEMENTED = 238;
/** The index already exists with other options (e.g. `ttlIndex` switched between runs). */
export const INDEX_CONFLICTS: readonly number[] = [85, 86];
const NAMESPACE_NOT_FOUND = 26;
/** BSON's document limit. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
/** The document an update made outgrew 16 MiB (merged metadata): 10334, 17419. */
const TOO_LARGE: readonly number[] = [10334, 17419];

/**
 * No server was selected for a write the driver may have sent once already (a retryable write
 * re-sent after a network error; README, "Errors"): `guardWrite` (client.ts) re-types those.
 */
export class WriteMayHaveBeenSent extends Error {
  constructor(cause: MongoServerSelectionError) {
    super(`${cause.message} (the driver may have sent the write before)`, { cause });
  }
}

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
  isTransport: (error) =>
    error instanceof MongoNetworkError ||
    error instanceof MongoServerSelectionError ||
    error instanceof WriteMayHaveBeenSent,
  // No server could be selected, and no earlier attempt of this operation was sent (see above).
  isUnsent: (error) => error instanceof MongoServerSelectionError,
  // The primary applied the write but could not get it acknowledged as asked (wtimeout, a step
  // down before replication): it may survive or be rolled back.
  isOutcomeUnknown: (error) => error instanceof MongoWriteConcernError,
  statusOf: (error) =>
    error instanceof MongoServerError && typeof error.code === "number" ? error.code : undefined,
  statusLabel: "code",
  // Failover, shutdown, timeouts, and throttling (Cosmos DB's Mongo API answers 16500).
  transientStatuses: [6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 16500],
  // The driver's own verdict; a rejected write carries neither label.
  isTransient: (error) =>
    error instanceof MongoError &&
    (error.hasErrorLabel("RetryableWriteError") ||
      error.hasErrorLabel("TransientTransactionError")),
  special: (error) =>
    TOO_LARGE.includes(Number(errors.statusOf(error)))
      ? new ValueTooLargeError(BACKEND_NAME, MAX_DOCUMENT_BYTES + 1, MAX_DOCUMENT_BYTES, {
          cause: error,
        })
      : undefined,
});

/**
 * `guard`'s recovery for dropping a collection that does not exist (never created: `createIndexes:
 * false` and nothing written). mongo-java-server answers "ns not found" without a code.
 */
export const droppedAlready = (error: unknown): false | undefined =>
  errors.statusOf(error) === NAMESPACE_NOT_FOUND ||
  (error instanceof MongoServerError && error.message === "ns not found")
    ? false
    : undefined;
