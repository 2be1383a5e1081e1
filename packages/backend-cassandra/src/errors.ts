/** What Cassandra driver failures mean: core's typed errors, and which of them are safe to retry. */
import { BackendError, defineErrorMapping } from "@resultstore/core";
import cassandra from "cassandra-driver";
import { BACKEND_NAME } from "./config.js";

const { errors: driver, types } = cassandra;

/** Unavailable replicas, overload, bootstrapping, timeouts: what waiting can fix. */
const TRANSIENT_CODES = new Set<number>([
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.readTimeout,
  types.responseErrorCodes.writeTimeout,
]);

const responseCode = (error: unknown) =>
  error instanceof driver.ResponseError ? error.code : undefined;

function isTransport(error: unknown): boolean {
  if (error instanceof driver.NoHostAvailableError) {
    // The driver reports a server's refusal (e.g. a re-prepare on a dropped table) as "no host
    // available" too: that is transport trouble only if some host failed for a transient reason.
    const inner = Object.values((error.innerErrors ?? {}) as Record<string, unknown>);
    return (
      inner.length === 0 ||
      inner.some((e) => !(e instanceof driver.ResponseError) || TRANSIENT_CODES.has(e.code))
    );
  }
  return (
    error instanceof driver.OperationTimedOutError || error instanceof driver.BusyConnectionError
  );
}

/** A write timeout during Paxos: the transaction may or may not have been applied. */
function isCasTimeout(error: unknown): boolean {
  return (
    responseCode(error) === types.responseErrorCodes.writeTimeout &&
    String((error as { writeType?: unknown }).writeType).toUpperCase() === "CAS"
  );
}

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
  isTransport,
  statusOf: responseCode,
  statusLabel: "code",
  transientStatuses: TRANSIENT_CODES,
  // Rejected credentials: the server answered, and waiting will not change its mind.
  isConnectionRefusal: (error) => error instanceof driver.AuthenticationError,
  special: (error, operation) =>
    isCasTimeout(error)
      ? new BackendError(
          BACKEND_NAME,
          `${operation}: the lightweight transaction timed out; it may or may not have been applied.`,
          { cause: error },
        )
      : undefined,
});
