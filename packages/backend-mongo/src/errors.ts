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
/** Dropping a collection that does not exist. */
export const NAMESPACE_NOT_FOUND = 26;
/** BSON's document limit. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
/**
 * The document an update produced outgrew 16 MiB (the write alone fitted: merged metadata made it
 * larger): 10334 BSONObjectTooLarge, 17419 "Resulting document after update is larger than …".
 */
const TOO_LARGE: readonly number[] = [10334, 17419];

function serverCode(error: unknown): number | undefined {
  return error instanceof MongoServerError && typeof error.code === "number"
    ? error.code
    : undefined;
}

/**
 * A write's server selection failed where the driver may have sent the write once already: with
 * retryable writes on a replica set or sharded cluster, the driver re-sends a write after a
 * network error, and when no server can be selected for that second copy it throws the selection
 * error, although the first copy may have landed. `Connection.guardWrite` (client.ts) re-types
 * such failures, so a bare `MongoServerSelectionError` means nothing was sent.
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
  statusOf: serverCode,
  statusLabel: "code",
  // Failover, shutdown, timeouts, and throttling (Cosmos DB's Mongo API answers 16500).
  transientStatuses: [6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 16500],
  // The driver's own verdict; a rejected write carries neither label.
  isTransient: (error) =>
    error instanceof MongoError &&
    (error.hasErrorLabel("RetryableWriteError") ||
      error.hasErrorLabel("TransientTransactionError")),
  special: (error) =>
    TOO_LARGE.includes(serverCode(error) ?? 0)
      ? new ValueTooLargeError(BACKEND_NAME, MAX_DOCUMENT_BYTES + 1, MAX_DOCUMENT_BYTES, {
          cause: error,
        })
      : undefined,
});
