/**
 * Driver failures as core's typed errors. Each backend declares what its driver's failures mean
 * (`defineErrorMapping`), and gets back the one `wrapError`, `isRetryable` and `guard` every
 * backend uses, so messages, classes and retry decisions follow one rule everywhere.
 */
import {
  BackendConnectionError,
  BackendError,
  BackendUnavailableError,
  ContentionError,
  OutcomeUnknownError,
  ResultStoreError,
} from "./errors.js";
import { sanitizeUrl } from "./url.js";

/** What a backend declares about its driver's failures. */
export interface ErrorMappingSpec {
  /** The backend's name, as every message is tagged. */
  backend: string;
  /** The request may not have reached the server (socket, DNS, timeout, no host): retryable. */
  isTransport(error: unknown): boolean;
  /**
   * Nothing was sent: no host was up, or the connection was refused before the request left the
   * client. Such a failure is a `BackendUnavailableError`: its outcome is known (nothing changed).
   * Only a backend that knows its driver made no earlier attempt may say so: a driver that re-sends
   * a request and then meets a refused connection may have landed the first copy
   * (`isConnectionRefused` helps where the driver's retries are off). @default never
   */
  isUnsent?(error: unknown): boolean;
  /**
   * The request reached the server and may have taken effect, but its answer says it is unknown
   * whether it did (a coordinator's write timeout, a 5xx after the request was accepted). Such a
   * failure is an `OutcomeUnknownError`, which core narrows to the write or increment that failed
   * and never retries blindly.
   */
  isOutcomeUnknown?(error: unknown): boolean;
  /** The status a server's refusal carries (HTTP status, server error code or SDK error name). */
  statusOf?(error: unknown): number | string | undefined;
  /** How a message names the status: "HTTP" → `(HTTP 503)`. @default "" */
  statusLabel?: string;
  /** Statuses that waiting can fix: throttling, failover, overload. */
  transientStatuses?: Iterable<number | string>;
  /** Transient failures a status cannot tell (e.g. a driver's "retryable" labels). */
  isTransient?(error: unknown): boolean;
  /** Reported as a connection error although waiting will not help (e.g. rejected credentials). */
  isConnectionRefusal?(error: unknown): boolean;
  /** The text a message quotes. @default the error's message */
  detail?(error: unknown): string;
  /** Failures that map to another typed error (checked first), or undefined. */
  special?(error: unknown, operation: string): ResultStoreError | undefined;
}

/** What a backend gets from its declared mapping. */
export interface ErrorMapping {
  /** Core's typed error for a driver failure; `operation` names what failed. Ours pass through. */
  wrapError(error: unknown, operation: string): ResultStoreError;
  /** Whether a failed call may be retried safely (Celery's `exception_safe_to_retry`). */
  isRetryable(error: unknown): boolean;
  /** The status of a driver error, or of the driver error inside one of ours. */
  statusOf(error: unknown): number | string | undefined;
  /**
   * Runs `body`, turning its failures into typed errors. `recover` may turn an expected failure
   * (a failed condition, a missing item) into a result instead: anything but undefined is returned.
   */
  guard<T, R = never>(
    operation: string,
    body: () => Promise<T>,
    recover?: (error: unknown) => R | undefined,
  ): Promise<T | R>;
  /** A `recover` for `guard`: `value` when the failure's status is one of `statuses`. */
  on<R>(statuses: readonly (number | string)[], value: R): (error: unknown) => R | undefined;
}

/** Socket-level failures (Node's codes; `TimeoutError` is also a name some SDKs throw). */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "TimeoutError",
]);

/** Whether `error` or any error in its `cause` chain is a socket-level failure. */
export function isNetworkError(error: unknown): boolean {
  return someCause(
    error,
    ({ code, name }) =>
      (typeof code === "string" && NETWORK_CODES.has(code)) || name === "TimeoutError",
  );
}

/** Whether the connection was refused (`ECONNREFUSED` anywhere in the cause chain): nothing was sent. */
export function isConnectionRefused(error: unknown): boolean {
  return someCause(error, ({ code }) => code === "ECONNREFUSED");
}

/** Whether `test` holds for `error` or any error in its `cause` chain (also `errors` of an AggregateError). */
function someCause(
  error: unknown,
  test: (e: { code?: unknown; name?: unknown }) => boolean,
): boolean {
  const seen = new Set<unknown>();
  const pending: unknown[] = [error];
  while (pending.length) {
    const e = pending.pop();
    if (typeof e !== "object" || e === null || seen.has(e)) continue;
    seen.add(e);
    if (test(e as { code?: unknown; name?: unknown })) return true;
    const { cause, errors } = e as { cause?: unknown; errors?: unknown };
    pending.push(cause);
    if (Array.isArray(errors)) pending.push(...errors);
  }
  return false;
}

/** The driver error a typed error of ours wraps (or `error` itself). */
function driverError(error: unknown): unknown {
  return error instanceof ResultStoreError ? error.cause : error;
}

/** A backend's error translation, built from what it declares: `wrapError`, `isRetryable`, `statusOf`, `guard`, `on`. */
export function defineErrorMapping(spec: ErrorMappingSpec): ErrorMapping {
  const transient = new Set(spec.transientStatuses ?? []);
  const statusOf = (error: unknown) => spec.statusOf?.(driverError(error));
  const detail = (error: unknown): string => {
    const text = spec.detail?.(error) ?? (error instanceof Error ? error.message : String(error));
    // One line (SDKs append diagnostics blobs), and never a credential a quoted URL carries.
    const line = text.split("\n", 1)[0] ?? "";
    const short = line.length > 300 ? `${line.slice(0, 300)}…` : line;
    return short.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"']+/gi, (url) => sanitizeUrl(url));
  };
  const mapping: ErrorMapping = {
    wrapError(error, operation) {
      if (error instanceof ResultStoreError) return error;
      const special = spec.special?.(error, operation);
      if (special) return special;
      // Labels are written "read of task t1" (BACKEND.md); a message starts with a capital.
      const what = operation.charAt(0).toUpperCase() + operation.slice(1);
      if (spec.isUnsent?.(error)) {
        return new BackendUnavailableError(
          spec.backend,
          `${what} failed before anything was sent: ${detail(error)}`,
          { cause: error },
        );
      }
      if (spec.isOutcomeUnknown?.(error)) {
        return new OutcomeUnknownError(
          spec.backend,
          `${what} may have taken effect: ${detail(error)}`,
          { cause: error },
        );
      }
      if (spec.isTransport(error) || spec.isConnectionRefusal?.(error)) {
        return new BackendConnectionError(spec.backend, `${what} failed: ${detail(error)}`, {
          cause: error,
        });
      }
      const status = statusOf(error);
      const label = status === undefined ? "" : ` (${[spec.statusLabel, status].join(" ").trim()})`;
      return new BackendError(spec.backend, `${what} failed${label}: ${detail(error)}`, {
        cause: error,
      });
    },
    isRetryable(error) {
      // Nothing was stored, so trying again is safe; a maybe-landed call is core's to decide.
      if (error instanceof ContentionError || error instanceof BackendUnavailableError) return true;
      if (error instanceof OutcomeUnknownError) return false;
      if (spec.isOutcomeUnknown?.(driverError(error))) return false;
      const inner = driverError(error);
      if (inner === undefined || inner === null) return false;
      if (spec.isTransport(inner) || spec.isTransient?.(inner)) return true;
      const status = statusOf(inner);
      return status !== undefined && transient.has(status);
    },
    statusOf,
    on: (statuses, value) => (error) => {
      const status = statusOf(error);
      return status !== undefined && statuses.includes(status) ? value : undefined;
    },
    async guard(operation, body, recover) {
      try {
        return await body();
      } catch (error) {
        const recovered = recover?.(error);
        if (recovered !== undefined) return recovered;
        throw mapping.wrapError(error, operation);
      }
    },
  };
  return mapping;
}
