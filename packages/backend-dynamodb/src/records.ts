/**
 * The item layout (CELERY-COMPAT.md §5, DynamoDB). Celery's attributes: `id` (S), `result` (B: the
 * UTF-8 meta JSON Celery reads), `timestamp` (N, epoch seconds), `ttl` (N, epoch seconds) and
 * `chord_count` (N, counters). Ours: `members` (SS) of a set item, and on task items, beside
 * Celery's, so one UpdateItem can guard and merge:
 *  - `status` (S): the state, for the ConditionExpression;
 *  - `children`, `group_id`, `parent_id`, `name`, `args`, `kwargs`, `worker`, `retries`, `queue`
 *    (S, Celery JSON text): the optional fields, so a write that lacks one keeps the stored value;
 *  - `meta_<key>` (S, Celery JSON text): one attribute per metadata key, merged key by key.
 * `result` holds the meta of the latest write as a Celery worker would have written it (without
 * our metadata); reads overlay the attributes, which hold the merged record.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import {
  decodeJson,
  encodeJson,
  type GroupRecord,
  type TaskRecord,
  type TaskWrite,
} from "@resultstore/core";
import {
  applyWrite,
  decodeMeta,
  encodeMeta,
  groupTuple,
  isPlainObject,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";

export type Item = Record<string, AttributeValue>;

export const ATTR = {
  id: "id",
  result: "result",
  timestamp: "timestamp",
  ttl: "ttl",
  count: "chord_count",
  /** A set's members (SS), beside its `ttl` and `timestamp`. */
  members: "members",
  status: "status",
  /** The `writeId` of the write that last changed the item: a re-sent copy of it is recognised. */
  writeId: "write_id",
} as const;

export const METADATA_PREFIX = "meta_";

/** Optional record fields and the attribute each is kept in (named after Celery's meta keys). */
export const OPTIONAL_ATTRS = {
  children: "children",
  groupId: "group_id",
  parentId: "parent_id",
  name: "name",
  args: "args",
  kwargs: "kwargs",
  worker: "worker",
  retries: "retries",
  queue: "queue",
} as const satisfies Partial<Record<keyof TaskRecord, string>>;

export type OptionalField = keyof typeof OPTIONAL_ATTRS;
export const OPTIONAL_FIELDS = Object.keys(OPTIONAL_ATTRS) as OptionalField[];

/** Epoch seconds as DynamoDB's N, fractions kept (Celery writes `str(time())`). */
export function epochSeconds(date: Date | number): AttributeValue {
  const ms = typeof date === "number" ? date : date.getTime();
  return { N: String(ms / 1000) };
}

/** The `ttl` value for an expiry: whole seconds (what DynamoDB TTL reads), never before `expiresAt`. */
export function ttlValue(expiresAt: Date): AttributeValue {
  return { N: String(Math.ceil(expiresAt.getTime() / 1000)) };
}

/** Every attribute a task write sets, except `id` and `ttl`. */
export function encodeTask(write: TaskWrite, nowMs: number): Item {
  // The blob Celery reads: this write's meta alone, exactly as a Celery worker would store it.
  const record = applyWrite(null, write, new Date(nowMs)) as TaskRecord;
  const blob = encodeMeta(record, { resultJson: write.resultJson, includeMetadata: false });
  const item: Item = {
    [ATTR.result]: { B: Buffer.from(blob, "utf8") },
    [ATTR.timestamp]: epochSeconds(nowMs),
    [ATTR.status]: { S: write.status },
  };
  for (const field of OPTIONAL_FIELDS) {
    if (write[field] !== undefined) item[OPTIONAL_ATTRS[field]] = { S: encodeJson(write[field]) };
  }
  for (const [key, value] of Object.entries(write.metadata ?? {})) {
    item[`${METADATA_PREFIX}${key}`] = { S: encodeJson(value) };
  }
  return item;
}

function numberAttr(item: Item, name: string): number | null {
  const value = item[name]?.N;
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** The expiry the item's `ttl` attribute holds, or null. */
export function itemExpiry(item: Item): Date | null {
  const seconds = numberAttr(item, ATTR.ttl);
  return seconds === null ? null : new Date(seconds * 1000);
}

/** Whether the item's `ttl` has passed at `nowMs` (the same test core applies on read). */
export function itemExpired(item: Item, nowMs: number): boolean {
  const expiresAt = itemExpiry(item);
  return expiresAt !== null && expiresAt.getTime() <= nowMs;
}

/**
 * The record an item holds: Celery's meta from `result`, overlaid with our attributes when we
 * wrote the item (a Celery worker's PutItem replaces the whole item, leaving the blob alone).
 */
export function decodeTask(item: Item, taskId: string): TaskRecord | null {
  const blob = item[ATTR.result]?.B;
  if (!blob) return null;
  const record = decodeMeta(blob, taskId);
  for (const field of OPTIONAL_FIELDS) {
    const text = item[OPTIONAL_ATTRS[field]]?.S;
    if (text !== undefined)
      (record as unknown as Record<string, unknown>)[field] = decodeJson(text);
  }
  record.metadata = metadataFromItem(item);
  record.expiresAt = itemExpiry(item);
  return record;
}

/** The metadata kept in `meta_<key>` attributes. */
export function metadataFromItem(item: Item): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) {
    if (!name.startsWith(METADATA_PREFIX) || value.S === undefined) continue;
    // defineProperty: a stored "__proto__" key stays data (core refuses such keys on write anyway).
    Object.defineProperty(metadata, name.slice(METADATA_PREFIX.length), {
      value: decodeJson(value.S),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return metadata;
}

/** Celery's group item: `result` = `{"result": <GroupResult.as_tuple()>}`. */
export function encodeGroup(id: string, group: GroupRecord): Item {
  const item: Item = {
    [ATTR.id]: { S: id },
    [ATTR.result]: { B: Buffer.from(encodeJson({ result: groupTuple(group) }), "utf8") },
    [ATTR.timestamp]: epochSeconds(group.dateDone),
  };
  if (group.expiresAt) item[ATTR.ttl] = ttlValue(group.expiresAt);
  return item;
}

export function decodeGroup(item: Item, groupId: string): GroupRecord | null {
  const blob = item[ATTR.result]?.B;
  if (!blob) return null;
  const value = decodeJson(blob);
  const tuple = isPlainObject(value) ? value.result : undefined;
  const seconds = numberAttr(item, ATTR.timestamp);
  return {
    groupId,
    taskIds: taskIdsFromGroupValue(tuple),
    // Celery keeps no date in the group value; its `timestamp` attribute is when it was saved.
    dateDone: seconds === null ? new Date(0) : new Date(seconds * 1000),
    expiresAt: itemExpiry(item),
  };
}

/** DynamoDB's size of an item: UTF-8 attribute names plus values (N counted at its maximum). */
export function itemBytes(item: Item): number {
  let total = 0;
  for (const [name, value] of Object.entries(item)) {
    total += Buffer.byteLength(name);
    if (value.S !== undefined) total += Buffer.byteLength(value.S);
    else if (value.B !== undefined) total += value.B.byteLength;
    else if (value.N !== undefined) total += 21;
    else total += 1;
  }
  return total;
}
