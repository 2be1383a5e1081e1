export { decodeJson, encodeJson } from "./codec.js";
export {
  type AddMembers,
  type AddToCounter,
  CONFLICT_ATTEMPTS,
  IncrementBatcher,
  LOST_RACE,
  type LostRace,
  retryLostRaces,
  SetAddBatcher,
} from "./contention.js";
export { type CreateStoreOptions, createStore } from "./create.js";
export { formatCeleryDate, parseCeleryDate } from "./dates.js";
export {
  defineErrorMapping,
  type ErrorMapping,
  type ErrorMappingSpec,
  isConnectionRefused,
  isNetworkError,
} from "./driver-errors.js";
export * from "./errors.js";
export {
  CHORD_CLAIM_KEY_PREFIX,
  CHORD_MEMBERS_KEY_PREFIX,
  CHORD_UNLOCK_KEY_PREFIX,
  COUNTER_KEY_PREFIX,
  celeryKeyPrefix,
  counterKey,
  derivedKey,
  GROUP_KEY_PREFIX,
  SET_KEY_PREFIX,
  setKey,
  TASK_KEY_PREFIX,
} from "./keys.js";
export { Lazy, LazyConnection } from "./lazy.js";
export { MemoryBackend, type MemoryBackendOptions } from "./memory.js";
export { PyDate, PyDecimal, PyTime, PyUUID } from "./pytypes.js";
export {
  applyWrite,
  assertRecordFits,
  decodeMeta,
  type EncodeMetaOptions,
  encodeMeta,
  exceptionToDict,
  groupTuple,
  hasExtendedFields,
  isExpired,
  measureWrite,
  pendingRecord,
  REQUEST_FIELDS,
  readOptionalMetaFields,
  taskIdsFromGroupValue,
} from "./record.js";
export {
  DEFAULT_EXPIRES_SECONDS,
  type ExpiresOption,
  type RetentionByState,
} from "./retention.js";
export { backoffMs, DEFAULT_RETRY_POLICY, type RetryPolicy, withRetry } from "./retry.js";
export * from "./states.js";
export {
  type ChordPart,
  type ChordProgress,
  ResultStore,
  type ResultStoreOptions,
  type StoreOutcome,
  type StoreResultOptions,
  type TaskMeta,
  type TaskRequestInfo,
  type WaitOptions,
} from "./store.js";
export type * from "./types.js";

export {
  assertUserinfoEncoded,
  decodeUrlPart,
  encodeUserinfo,
  enumOption,
  intOption,
  mergeUrlOptions,
  parseUrl,
  redactedUrlError,
  SCHEME_PACKAGES,
  sanitizeUrl,
  schemeOf,
  splitUserinfo,
} from "./url.js";

export {
  isPlainObject,
  MAX_ID_BYTES,
  MAX_METADATA_DEPTH,
  validateId,
  validateMetadata,
} from "./validate.js";
export { copyValue, type KnownVersion, VersionCache } from "./versions.js";

import { MemoryBackend } from "./memory.js";
import type { BackendUrlOptions } from "./types.js";
/** `memory://` through the same entry point as every backend package. */
export function fromUrl(_url: string, options: BackendUrlOptions = {}): MemoryBackend {
  return new MemoryBackend(options as { maxRecordBytes?: number });
}
