/**
 * Typed errors. Every message names the backend and the cause; none ever carries a password or key
 * (URLs go through `sanitizeUrl` before they reach a message).
 */

export type ErrorCode =
  | "CONFIG"
  | "CONNECTION"
  | "ENCODE"
  | "DECODE"
  | "TIMEOUT"
  | "TOO_LARGE"
  | "CLOSED"
  | "INVALID_ID"
  | "INVALID_METADATA"
  | "INVALID_QUERY"
  | "UNSUPPORTED"
  | "ABORTED"
  | "OUTCOME_UNKNOWN"
  | "BACKEND";

/** `message` tagged with its source, as every error and warning of ours reads: `[resultstore] [mongodb] …`. */
export function tagMessage(backend: string, message: string): string {
  return `[resultstore] [${backend}] ${message}`;
}

/** The base of every error resultstore throws: it names the backend, and `code` says what kind. */
export class ResultStoreError extends Error {
  readonly code: ErrorCode;
  /** Backend name ("memory", "mongodb", …) or "core". */
  readonly backend: string;

  constructor(code: ErrorCode, backend: string, message: string, options?: { cause?: unknown }) {
    super(tagMessage(backend, message), options);
    this.code = code;
    this.backend = backend;
    this.name = new.target.name;
  }
}

/** Bad options or URL. */
export class ConfigurationError extends ResultStoreError {
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super("CONFIG", backend, message, options);
  }
}

/** The server could not be reached or answered with a transport-level failure. */
export class BackendConnectionError extends ResultStoreError {
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super("CONNECTION", backend, message, options);
  }
}

/**
 * A call that nothing was sent for: no host was up, or the connection was refused or could not be
 * opened before the request left the client. Its outcome is known: it changed nothing. Retrying is
 * safe, also for an increment.
 */
export class BackendUnavailableError extends BackendConnectionError {}

/** Any other failure the backend's server reported. */
export class BackendError extends ResultStoreError {
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super("BACKEND", backend, message, options);
  }
}

/**
 * A compare-and-swap lost every round to concurrent writers. Nothing of this call was stored, so
 * trying again is safe: every backend's `isRetryable` says yes.
 */
export class ContentionError extends BackendError {
  constructor(backend: string, what: string, attempts: number) {
    super(
      backend,
      `${what} lost ${attempts} races to concurrent writers; nothing changed, safe to retry.`,
    );
  }
}

/**
 * A call may or may not have taken effect: its request may have reached the server and its answer
 * was lost, timed out, or contradicted by a copy of it that ran more than once. Never retried
 * blindly: a write recognises itself on a retry (its write id), an increment cannot, so core retries
 * only `WriteOutcomeUnknownError` under `alwaysRetry` and every backend's `isRetryable` says no to
 * the rest. Read the task or counter to see where it stands.
 */
export class OutcomeUnknownError extends ResultStoreError {
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super("OUTCOME_UNKNOWN", backend, message, options);
  }
}

/**
 * A write's outcome is unknown: the server timed out after the request reached it (a Paxos or
 * replication timeout, a 5xx after sending), or a copy re-sent after a transport failure was
 * refused, so an earlier copy may have landed and been superseded since. Writing again is safe
 * under the state rules: a retry that finds its own write id stored answers `applied: true`.
 */
export class WriteOutcomeUnknownError extends OutcomeUnknownError {
  readonly taskId: string;
  constructor(
    backend: string,
    taskId: string,
    why = "it was sent again after a transport failure and then refused: an earlier copy may have landed before another write",
    options?: { cause?: unknown },
  ) {
    super(
      backend,
      `The write of task ${taskId} has an unknown outcome: ${why}, so whether it was applied is unknown.`,
      options,
    );
    this.taskId = taskId;
  }
}

/**
 * An increment failed, but it may have counted: its answer was lost or timed out after it reached
 * the server, or it was sent or run more than once (by the driver after a lost answer, or by the
 * cluster after a failover). Increments are not idempotent, so it is never retried: read the counter
 * before counting again.
 */
export class IncrementOutcomeUnknownError extends OutcomeUnknownError {
  readonly counter: string;
  constructor(backend: string, counter: string, why: string, options?: { cause?: unknown }) {
    super(backend, `Incrementing counter ${counter}: ${why}, so it may have counted.`, options);
    this.counter = counter;
  }
}

/** A value cannot be written as Celery-compatible JSON. Raised before anything is stored. */
export class EncodeError extends ResultStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ENCODE", "codec", message, options);
  }
}

/** Stored text is not Celery-compatible JSON (or carries a type marker Celery does not know). */
export class DecodeError extends ResultStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("DECODE", "codec", message, options);
  }
}

/** `waitFor` gave up. */
export class WaitTimeoutError extends ResultStoreError {
  readonly taskId: string;
  constructor(backend: string, taskId: string, timeoutMs: number) {
    super("TIMEOUT", backend, `Task ${taskId} was not ready after ${timeoutMs} ms.`);
    this.taskId = taskId;
  }
}

/** `waitFor` was aborted through its signal. */
export class WaitAbortedError extends ResultStoreError {
  constructor(backend: string, taskId: string, options?: { cause?: unknown }) {
    super("ABORTED", backend, `Waiting for task ${taskId} was aborted.`, options);
  }
}

/** The record would exceed what the database can store in one item or document. */
export class ValueTooLargeError extends ResultStoreError {
  readonly size: number;
  readonly limit: number;
  constructor(backend: string, size: number, limit: number, options?: { cause?: unknown }) {
    super(
      "TOO_LARGE",
      backend,
      `Record is ${size} bytes; this backend stores at most ${limit}.`,
      options,
    );
    this.size = size;
    this.limit = limit;
  }
}

/** The store was closed. */
export class StoreClosedError extends ResultStoreError {
  constructor(backend: string) {
    super("CLOSED", backend, "The store is closed.");
  }
}

/** A task id, group id or counter key that no backend could store safely. */
export class InvalidIdError extends ResultStoreError {
  constructor(message: string) {
    super("INVALID_ID", "core", message);
  }
}

/** Metadata that is not a plain object of safe keys and encodable values. */
export class InvalidMetadataError extends ResultStoreError {
  /** `backend` names a backend whose own limit the metadata breaks (e.g. expression sizes). */
  constructor(message: string, backend = "core") {
    super("INVALID_METADATA", backend, message);
  }
}

/**
 * A `find` or `countByState` input that cannot be asked: an unknown filter or option key, a
 * malformed state, a metadata value that is not a finite scalar or a key metadata cannot have, a
 * time range that is not one, a limit out of range. Thrown before anything reaches the backend.
 */
export class InvalidQueryError extends ResultStoreError {
  constructor(message: string) {
    super("INVALID_QUERY", "core", message);
  }
}

/**
 * A `find` cursor that is not one `find` made for this filter and order: malformed, from another
 * version of resultstore, or from a call with another filter or order.
 */
export class InvalidCursorError extends InvalidQueryError {}

/** The backend does not implement an optional operation (`find`, `countByState`). */
export class UnsupportedOperationError extends ResultStoreError {
  readonly operation: string;
  constructor(backend: string, operation: string) {
    super("UNSUPPORTED", backend, `This backend does not support ${operation} yet.`);
    this.operation = operation;
  }
}
