/** Driver failures as core's typed errors: which are retryable, which leave an LWT unknown. */
import { BackendUnavailableError, OutcomeUnknownError } from "@resultstore/core";
import { defineErrorMapping } from "@resultstore/core/backend";
import cassandra from "cassandra-driver";
import { BACKEND_NAME } from "./config.js";

const { errors: driver, types } = cassandra;
const { writeTimeout, writeFailure } = types.responseErrorCodes;

/** Protocol v5's CAS_WRITE_UNKNOWN, should a driver pass it through (ours: a CAS write timeout). */
const CAS_WRITE_UNKNOWN = 0x1700;

/** What waiting can fix. */
const TRANSIENT_CODES = new Set<number>([
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.readTimeout,
  writeTimeout,
]);

const responseCode = (error: unknown) =>
  error instanceof driver.ResponseError ? error.code : undefined;

const innerErrors = (error: InstanceType<typeof driver.NoHostAvailableError>): unknown[] =>
  Object.values((error.innerErrors ?? {}) as Record<string, unknown>);

/** How the driver marks a socket failure, and one before the request was written. */
type SocketFlags = { isSocketError?: boolean; requestNotWritten?: boolean } | null;

/** A client-side timeout, or a socket closed after the request was written. */
function lostAfterSending(error: unknown): boolean {
  const { isSocketError, requestNotWritten } = (error ?? {}) as NonNullable<SocketFlags>;
  return error instanceof driver.OperationTimedOutError || (!!isSocketError && !requestNotWritten);
}

/** The server refused our credentials (directly, or for a host inside a NoHostAvailableError). */
function isRejectedCredentials(error: unknown): boolean {
  if (error instanceof driver.NoHostAvailableError)
    return innerErrors(error).some(isRejectedCredentials);
  return error instanceof driver.AuthenticationError;
}

/**
 * Nothing was sent: no host got the request (down, no connection, busy, unwritten). The driver
 * records each host it sent to and re-sends only after a failure it recorded, so a copy would show.
 */
function isUnsent(error: unknown): boolean {
  if (!(error instanceof driver.NoHostAvailableError)) return false;
  const inner = innerErrors(error);
  // Rejected credentials while connecting: nothing sent, but no retry will help either.
  if (inner.some(isRejectedCredentials)) return false;
  return !inner.some((e) => e instanceof driver.ResponseError || lostAfterSending(e));
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
    error instanceof driver.BusyConnectionError ||
    error instanceof driver.OperationTimedOutError ||
    (error as SocketFlags)?.isSocketError === true
  );
}

/**
 * A Paxos timeout, failure or unknown result: only a lightweight transaction reports writeType
 * CAS. Under Paxos v1 a replica that cannot take a proposal stays silent (a timeout); under v2 it
 * answers a failure. Either way other replicas may have accepted it, and the next round on the
 * partition completes what they accepted: the outcome is unknown.
 */
function isCasOutcomeUnknown(error: unknown): boolean {
  const code = responseCode(error);
  const writeType = String((error as { writeType?: unknown } | null)?.writeType).toUpperCase();
  const casPhase = (code === writeTimeout || code === writeFailure) && writeType === "CAS";
  return code === CAS_WRITE_UNKNOWN || casPhase;
}

/**
 * Whether a failed lightweight transaction may have applied: a CAS timeout or failure, a
 * commit-phase write timeout (SIMPLE or BATCH: the accepted proposal is completed by the next round), a request lost
 * after sending. Not an Unavailable: the coordinator refuses before the first Paxos phase.
 */
function lwtMayHaveLanded(error: unknown): boolean {
  if (error instanceof driver.NoHostAvailableError)
    return innerErrors(error).some(lwtMayHaveLanded);
  return (
    isCasOutcomeUnknown(error) || responseCode(error) === writeTimeout || lostAfterSending(error)
  );
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
 * Runs one lightweight transaction: a failure after which it may have applied is an
 * `OutcomeUnknownError` (never retried blindly by core); any other is left to `errors.guard`.
 */
export async function lightweightTransaction<T>(label: string, body: () => Promise<T>) {
  try {
    return await body();
  } catch (error) {
    if (!lwtMayHaveLanded(error)) throw error;
    const { message } = errors.wrapError(error, label);
    throw new OutcomeUnknownError(
      BACKEND_NAME,
      `${untagged(message)} (the lightweight transaction may or may not have been applied)`,
      { cause: error },
    );
  }
}

/**
 * A failure while connecting or provisioning, before the call's own request: a transport failure
 * is a `BackendUnavailableError` (retryable, even for an increment); a refusal stays what it is.
 */
export function beforeSending(error: unknown, label: string): unknown {
  const wrapped = errors.wrapError(error, label);
  // Transport trouble (a BackendConnectionError's code), except rejected credentials.
  if (wrapped.code !== "CONNECTION" || wrapped instanceof BackendUnavailableError) return wrapped;
  if (isRejectedCredentials(wrapped.cause)) return wrapped;
  const { message, cause } = wrapped;
  return new BackendUnavailableError(BACKEND_NAME, untagged(message), { cause });
}
