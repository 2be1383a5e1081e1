/**
 * `@resultstore/core`: the result store applications use — `createStore`, `ResultStore`, the task
 * states and their rules, typed errors, the Celery-compatible codec and the in-memory backend.
 * Backend authors find their toolkit in `@resultstore/core/backend`.
 * @module
 */
export { decodeJson, encodeJson } from "./codec.js";
export { type CreateStoreOptions, createStore } from "./create.js";
export {
  BackendConnectionError,
  BackendError,
  BackendUnavailableError,
  ConfigurationError,
  ContentionError,
  DecodeError,
  EncodeError,
  type ErrorCode,
  IncrementOutcomeUnknownError,
  InvalidCursorError,
  InvalidIdError,
  InvalidMetadataError,
  InvalidQueryError,
  OutcomeUnknownError,
  ResultStoreError,
  StoreClosedError,
  UnsupportedOperationError,
  ValueTooLargeError,
  WaitAbortedError,
  WaitTimeoutError,
  WriteOutcomeUnknownError,
} from "./errors.js";
export { MemoryBackend, type MemoryBackendOptions } from "./memory.js";
export type { TelemetryOptions } from "./otel-api.js";
export { PyDate, PyDecimal, PyTime, PyUUID } from "./pytypes.js";
export {
  DEFAULT_FIND_LIMIT,
  type FindOptions,
  MAX_FIND_LIMIT,
  type MetadataScalar,
  type TaskFilter,
} from "./query.js";
export {
  DEFAULT_EXPIRES_SECONDS,
  type ExpiresOption,
  type RetentionByState,
} from "./retention.js";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.js";
export * from "./states.js";
export {
  type ChordPart,
  type ChordProgress,
  ResultStore,
  type ResultStoreOptions,
  type StoreOutcome,
  type StoreResultOptions,
  type TaskMeta,
  type TaskPage,
  type TaskRequestInfo,
  type WaitOptions,
} from "./store.js";
export type * from "./types.js";
export { MAX_ID_BYTES, MAX_METADATA_DEPTH } from "./validate.js";

import { MemoryBackend } from "./memory.js";
import type { BackendUrlOptions } from "./types.js";
/** `memory://` through the same entry point as every backend package. */
export function fromUrl(_url: string, options: BackendUrlOptions = {}): MemoryBackend {
  return new MemoryBackend(options as { maxRecordBytes?: number });
}
