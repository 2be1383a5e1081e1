/**
 * What Cassandra driver failures mean: core's typed errors, which of them are safe to retry, and
 * which leave a lightweight transaction's outcome unknown.
 */
import {
  BackendConnectionError,
  BackendUnavailableError,
  OutcomeUnknownError,
} from "@resultstore/core";
import { defineErrorMapping } from "@resultstore/core/backend";
import cassandra from "cassandra-driver";
import { BACKEND_NAME } from "./config.js";

const { errors: driver, types } = cassandra;

/**
 * Protocol v5's CAS_WRITE_UNKNOWN (Cassandra's CasWriteUnknownResultException). Older protocol
 * versions, which this driver speaks, get it as a write timeout of type CAS; named here for a
 * driver that passes it through.
 */
const CAS_WRITE_UNKNOWN = 0x1700;

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

/** The driver's per-host failures inside a NoHostAvailableError. */
const innerErrors = (error: InstanceType<typeof driver.NoHostAvailableError>): unknown[] =>
  Object.values((error.innerErrors ?? {}) as Record<string, unknown>);

/** The driver marks socket failures; `requestNotWritten` when the request never left. */
interface SocketFlags {
  isSocketError?: boolean;
  requestNotWritten?: boolean;
}

/**
 * Whether a per-host failure may have followed the request reaching that host: a server's answer,
 * a client-side timeout, or a socket closed after the request was written. What the driver records
 * for a host it never sent to (down, no connection in the pool, busy, unwritten) is not.
 */
function mayHaveBeenSent(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false; // "Host considered as DOWN"
  if (error instanceof driver.BusyConnectionError) return false;
  const { isSocketError, requestNotWritten } = error as SocketFlags;
  if (isSocketError) return !requestNotWritten;
  return error instanceof driver.ResponseError || error instanceof driver.OperationTimedOutError;
}

/**
 * Nothing was sent: no host was up or none had a connection to lend, so the driver never wrote
 * the request anywhere (it records every host it sent to with that host's failure, and re-sends
 * only after a failure it recorded, so an earlier copy would show here).
 */
/** The server refused our credentials (directly, or for a host inside a NoHostAvailableError). */
function isRejectedCredentials(error: unknown): boolean {
  if (error instanceof driver.NoHostAvailableError)
    return innerErrors(error).some(isRejectedCredentials);
  return error instanceof driver.AuthenticationError;
}

function isUnsent(error: unknown): boolean {
  if (!(error instanceof driver.NoHostAvailableError)) return false;
  const inner = innerErrors(error);
  // Rejected credentials while connecting: nothing sent, but no retry will help either.
  if (inner.some(isRejectedCredentials)) return false;
  return !inner.some(mayHaveBeenSent);
}

function isTransport(error: unknown): boolean {
  if (error instanceof driver.NoHostAvailableError) {
    // The driver reports a server's refusal (e.g. a re-prepare on a dropped table) as "no host
    // available" too: that is transport trouble only if some host failed for a transient reason.
    const inner = innerErrors(error);
    return (
      inner.length === 0 ||
      inner.some((e) => !(e instanceof driver.ResponseError) || TRANSIENT_CODES.has(e.code))
    );
  }
  return (
    error instanceof driver.OperationTimedOutError ||
    error instanceof driver.BusyConnectionError ||
    (error as SocketFlags | null)?.isSocketError === true
  );
}

/**
 * A write timeout or unknown result during Paxos: the transaction may or may not have been
 * applied. Only a lightweight transaction reports writeType CAS, so this needs no context.
 */
function isCasOutcomeUnknown(error: unknown): boolean {
  const code = responseCode(error);
  return (
    code === CAS_WRITE_UNKNOWN ||
    (code === types.responseErrorCodes.writeTimeout &&
      String((error as { writeType?: unknown }).writeType).toUpperCase() === "CAS")
  );
}

/**
 * Whether a failed lightweight transaction may have been applied. Beyond a CAS timeout: a write
 * timeout of the commit phase (reported as SIMPLE or BATCH: the proposal was accepted, the next
 * round completes it), a client-side timeout, or a socket lost after the request was written. An
 * Unavailable is not: the coordinator refuses before the first Paxos phase.
 */
function lwtMayHaveLanded(error: unknown): boolean {
  if (error instanceof driver.NoHostAvailableError)
    return innerErrors(error).some(lwtMayHaveLanded);
  if (isCasOutcomeUnknown(error)) return true;
  if (responseCode(error) === types.responseErrorCodes.writeTimeout) return true;
  if (error instanceof driver.OperationTimedOutError) return true;
  const { isSocketError, requestNotWritten } = (error ?? {}) as SocketFlags;
  return isSocketError === true && !requestNotWritten;
}

/** A message of ours without its `[resultstore] [cassandra] ` tag, to quote in another. */
const untagged = (message: string) => message.replace(/^\[resultstore\] \[[^\]]*\] /, "");

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
  isTransport,
  isUnsent,
  isOutcomeUnknown: isCasOutcomeUnknown,
  statusOf: responseCode,
  statusLabel: "code",
  transientStatuses: TRANSIENT_CODES,
  // Rejected credentials: the server answered, and waiting will not change its mind.
  isConnectionRefusal: (error) => error instanceof driver.AuthenticationError,
});

/**
 * Runs one lightweight transaction: a failure after which it may have been applied is an
 * `OutcomeUnknownError` (core narrows it to the write or increment and never retries it blindly);
 * any other failure is left to `errors.guard`.
 */
export async function lightweightTransaction<T>(
  operation: string,
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (!lwtMayHaveLanded(error)) throw error;
    throw new OutcomeUnknownError(
      BACKEND_NAME,
      `${operation}: the lightweight transaction may or may not have been applied (${untagged(errors.wrapError(error, operation).message)})`,
      { cause: error },
    );
  }
}

/**
 * Failures while connecting or checking the schema, before the call's own request: nothing of the
 * call was sent, so a transport failure there is a `BackendUnavailableError` (retryable, also for
 * an increment). A server's refusal (a missing table, rejected credentials) stays what it is.
 */
export function beforeSending(error: unknown, operation: string): unknown {
  const wrapped = errors.wrapError(error, operation);
  if (
    wrapped instanceof BackendConnectionError &&
    !(wrapped instanceof BackendUnavailableError) &&
    !isRejectedCredentials(wrapped.cause)
  ) {
    return new BackendUnavailableError(BACKEND_NAME, untagged(wrapped.message), {
      cause: wrapped.cause,
    });
  }
  return wrapped;
}
