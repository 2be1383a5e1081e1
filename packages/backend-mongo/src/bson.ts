/**
 * Values as BSON holds them: the key check every natively stored value passes, and the mapping
 * between decoded Celery values and BSON for `resultSerializer: "bson"`.
 */
import { decodeJson, EncodeError, encodeJson, PyDecimal, PyUUID } from "@resultstore/core";
import { isPlainObject } from "@resultstore/core/backend";
import { Binary, Decimal128, Long } from "mongodb";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Throws EncodeError for an object key that MongoDB-wire servers would read as an operator or a
 * path (leading `$`, `.`) or cannot hold (NUL). Real MongoDB 5+ stores some of these in inserts,
 * but not through `$set`, and FerretDB or DocumentDB not at all, so they are refused everywhere
 * before anything is sent.
 */
export function assertStorableKeys(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) assertStorableKeys(item, `${path}[${i}]`);
    return;
  }
  if (!isPlainObject(value)) return;
  for (const [key, item] of Object.entries(value)) {
    if (key.startsWith("$") || key.includes(".") || key.includes("\u0000")) {
      throw new EncodeError(
        `Key ${JSON.stringify(key)} at ${path} cannot be stored in MongoDB (leading "$", "." or NUL).`,
      );
    }
    assertStorableKeys(item, `${path}.${key}`);
  }
}

/**
 * A decoded Celery value as native BSON: datetimes become BSON dates and bytes BSON binary (both
 * queryable, as pymongo stores them), integers beyond 2^53 Int64 or Decimal128, and the Python
 * types BSON has no exact form for (Decimal, UUID, date, time) keep kombu's marker subdocument.
 */
export function toBson(value: unknown, decimal128: boolean, path = "result"): unknown {
  if (typeof value === "bigint") {
    if (value >= INT64_MIN && value <= INT64_MAX) return Long.fromBigInt(value);
    const text = value.toString();
    if (!decimal128 || text.replace("-", "").length > 34) {
      throw new EncodeError(
        `Integer at ${path} is beyond Int64 and ${decimal128 ? "Decimal128's 34 digits" : "this server has no Decimal128"}.`,
      );
    }
    return Decimal128.fromString(text);
  }
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (value instanceof Uint8Array) return new Binary(value);
  if (Array.isArray(value))
    return value.map((item, i) => toBson(item, decimal128, `${path}[${i}]`));
  if (!isPlainObject(value)) return JSON.parse(encodeJson(value)); // kombu's marker for the type
  assertStorableKeys(value, path);
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, toBson(item, decimal128, `${path}.${key}`)]),
  );
}

/** The inverse of `toBson`, also for what pymongo stores with Celery's `bson` serializer. */
export function fromBson(value: unknown): unknown {
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (value instanceof Long) {
    const big = value.toBigInt();
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(big)
      : big;
  }
  if (value instanceof Decimal128) {
    const text = value.toString();
    return /^-?\d+$/.test(text) ? BigInt(text) : new PyDecimal(text);
  }
  if (value instanceof Binary) {
    const bytes = Buffer.from(value.buffer);
    return value.sub_type === Binary.SUBTYPE_UUID ? new PyUUID(bytes.toString("hex")) : bytes;
  }
  if (Array.isArray(value)) return value.map(fromBson);
  if (!isPlainObject(value)) return value; // ObjectId and other BSON-only types, as the driver gives them
  const keys = Object.keys(value);
  if (keys.length === 2 && "__type__" in value && "__value__" in value)
    return decodeJson(JSON.stringify(value));
  return Object.fromEntries(keys.map((key) => [key, fromBson(value[key])]));
}
