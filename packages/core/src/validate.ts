/** Input checks that run before anything reaches a backend. */
import { InvalidIdError, InvalidMetadataError } from "./errors.js";

/** Longest id in UTF-8 bytes: within every backend's key limit (Cosmos ids: 255 characters). */
export const MAX_ID_BYTES = 200;

// Control characters, and the characters that are separators in some backend's keys or URLs
// (Consul paths, Cosmos resource links, HTTP paths).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
const FORBIDDEN_IN_ID = /[\u0000-\u001f\u007f/\\?#]/;

/** Throws `InvalidIdError` unless `id` is safe to use as a key in every backend. */
export function validateId(id: unknown, what = "task id"): asserts id is string {
  if (typeof id !== "string" || id.length === 0) {
    throw new InvalidIdError(`A ${what} must be a non-empty string.`);
  }
  if (id.trim() !== id || id === "." || id === "..") {
    throw new InvalidIdError(`The ${what} ${JSON.stringify(id)} is malformed.`);
  }
  if (FORBIDDEN_IN_ID.test(id)) {
    throw new InvalidIdError(
      `The ${what} ${JSON.stringify(id)} contains a control character or one of / \\ ? #.`,
    );
  }
  if (Buffer.byteLength(id) > MAX_ID_BYTES) {
    throw new InvalidIdError(`The ${what} is longer than ${MAX_ID_BYTES} bytes.`);
  }
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Deepest nesting of objects and arrays below `metadata` itself: within MongoDB's 100 levels per
 * document and far within Python's and the JSON parsers' recursion limits, so a record that one
 * client writes every other client (and Celery) can read.
 */
export const MAX_METADATA_DEPTH = 64;

/**
 * Metadata is a plain object whose keys, at every depth, can be neither operators nor paths in any
 * database: no leading `$`, no `.`, no NUL, no prototype names. Values must be encodable (checked
 * by the codec). Rejecting such keys is what lets every backend merge metadata natively.
 */
export function validateMetadata(metadata: unknown): asserts metadata is Record<string, unknown> {
  if (!isPlainObject(metadata)) {
    throw new InvalidMetadataError("Metadata must be a plain object.");
  }
  checkKeys(metadata, "metadata", new Set(), 0);
}

function checkKeys(value: unknown, path: string, seen: Set<object>, depth: number): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return; // cycles: the codec's EncodeError
  if (depth > MAX_METADATA_DEPTH) {
    throw new InvalidMetadataError(
      `Metadata is nested deeper than ${MAX_METADATA_DEPTH} levels (at ${path.slice(0, 80)}…).`,
    );
  }
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      checkKeys(item, `${path}[${i}]`, seen, depth + 1);
    });
    return;
  }
  if (!isPlainObject(value)) return;
  for (const key of Object.keys(value)) {
    if (!isSafeMetadataKey(key)) {
      throw new InvalidMetadataError(
        `Metadata key ${JSON.stringify(key)} at ${path} is not allowed (${METADATA_KEY_RULE}).`,
      );
    }
    checkKeys(value[key], `${path}.${key}`, seen, depth + 1);
  }
}

/** What {@link isSafeMetadataKey} refuses, for error messages. */
export const METADATA_KEY_RULE = 'empty, leading "$", ".", NUL or a prototype name';

/**
 * Whether `key` can be a metadata key: neither an operator nor a path in any database (no leading
 * `$`, no `.`, no NUL), not empty, no prototype name. Writes and `find`'s filter share the rule.
 */
export function isSafeMetadataKey(key: string): boolean {
  return !(
    key === "" ||
    key.startsWith("$") ||
    key.includes(".") ||
    key.includes("\u0000") ||
    FORBIDDEN_KEYS.has(key)
  );
}

/** Whether `state` is a state name a write may store: upper case, digits and `_`, at most 64. */
export function isStateName(state: unknown): state is string {
  return typeof state === "string" && /^[A-Z][A-Z0-9_]{0,63}$/.test(state);
}

/** Whether `value` is a plain object (`{}` or `Object.create(null)`), not an array, class instance or Map. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
