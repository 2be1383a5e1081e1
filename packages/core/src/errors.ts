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
  | "ABORTED"
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
 * An increment failed, but a copy of it may have counted: it was sent or run more than once (by the
 * driver after a lost answer, or by the cluster after a failover) and the backend cannot tell
 * whether an earlier copy landed. Increments are not idempotent, so the caller hears what it would
 * after a lost answer: the counter's value is unknown. Read it before counting again.
 */
export class IncrementOutcomeUnknownError extends BackendConnectionError {
  readonly counter: string;
  constructor(backend: string, counter: string, why: string) {
    super(backend, `Incrementing counter ${counter}: ${why}, so it may have counted.`);
    this.counter = counter;
  }
}

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
 * A write was sent more than once after a transport failure (by `alwaysRetry`, or by the driver's
 * own retry) and the copy that got an answer was refused. An earlier copy may have landed and a
 * later write from elsewhere may have superseded it since, so neither "applied" nor "refused"
 * would be true. Read the task to see where it stands; writing again is safe under the state rules.
 */
export class WriteOutcomeUnknownError extends BackendError {
  readonly taskId: string;
  constructor(backend: string, taskId: string) {
    super(
      backend,
      `The write of task ${taskId} was sent again after a transport failure and then refused: ` +
        "an earlier copy may have landed before another write, so whether it was applied is unknown.",
    );
    this.taskId = taskId;
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
