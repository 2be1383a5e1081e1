/**
 * `@resultstore/core/backend`: the toolkit backends are built from — error mapping, the lazy
 * connection, increment and set batchers, the Celery key builder, record encoding, URL parsing,
 * retry and telemetry helpers. Applications use `@resultstore/core`; a backend imports the user
 * API's types and errors from there and everything else from here (BACKEND.md).
 * @module
 */
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
export { formatCeleryDate, parseCeleryDate } from "./dates.js";
export {
  defineErrorMapping,
  type ErrorMapping,
  type ErrorMappingSpec,
  isConnectionRefused,
  isNetworkError,
} from "./driver-errors.js";
export { tagMessage } from "./errors.js";
export {
  compareInOrder,
  comparePositions,
  compareTaskIds,
  effectiveTime,
  firstInOrder,
  isInternalTaskId,
  type ListedFields,
  matchesCountQuery,
  matchesFindQuery,
  PageCollector,
  type PositionedFields,
  positionOf,
} from "./find.js";
export {
  CeleryKeys,
  CHORD_CLAIM_KEY_PREFIX,
  CHORD_MEMBERS_KEY_PREFIX,
  CHORD_UNLOCK_KEY_PREFIX,
  COUNTER_KEY_PREFIX,
  celeryKeyPrefix,
  counterKey,
  derivedKey,
  GROUP_KEY_PREFIX,
  type KeyLayout,
  SET_KEY_PREFIX,
  setKey,
  TASK_KEY_PREFIX,
} from "./keys.js";
export { Lazy, LazyConnection } from "./lazy.js";
export {
  loadOtelApi,
  type OtelApi,
  type OtelAttributes,
  type OtelContext,
  type OtelCounter,
  type OtelHistogram,
  type OtelMeter,
  type OtelMeterProvider,
  type OtelSpan,
  type OtelTracer,
  type OtelTracerProvider,
  SPAN_KIND,
} from "./otel-api.js";
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
export { backoffMs, withRetry } from "./retry.js";
export { endpointOf, StoreTelemetry, telemetryOf } from "./telemetry.js";
export {
  chunks,
  emitWarningOnce,
  LruMap,
  mapLimit,
  type WarnOnce,
  warnOnce,
} from "./toolkit.js";
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
  isSafeMetadataKey,
  isStateName,
  validateId,
  validateMetadata,
} from "./validate.js";
export { copyValue, type KnownVersion, VersionCache } from "./versions.js";
