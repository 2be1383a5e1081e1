/** Core's records as DynamoDB items, Celery's and our attributes (README "Item layout"). */
import { setTimeout } from "node:timers/promises";
import {
  type AttributeValue,
  BatchGetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  BackendError,
  canTransition,
  DEFAULT_RETRY_POLICY,
  decodeJson,
  encodeJson,
  type GroupRecord,
  InvalidMetadataError,
  statesRefusing,
  type TaskRecord,
  type TaskState,
  type TaskWrite,
  ValueTooLargeError,
  type WriteOutcome,
} from "@resultstore/core";
import {
  applyWrite,
  backoffMs,
  CeleryKeys,
  celeryKeyPrefix,
  chunks,
  decodeMeta,
  encodeMeta,
  groupTuple,
  isExpired,
  isInternalTaskId,
  isPlainObject,
  LOST_RACE,
  REQUEST_FIELDS,
  retryLostRaces,
  taskIdsFromGroupValue,
} from "@resultstore/core/backend";
import type { Table } from "./client.js";
import { BACKEND_NAME, type ResolvedConfig } from "./config.js";
import { CONDITION_FAILED, errors, ITEM_LIMIT_BYTES, sentAgain, writeErrors } from "./errors.js";
import { Expression } from "./expression.js";

export type Item = Record<string, AttributeValue>;

export const ATTR = {
  id: "id",
  result: "result",
  timestamp: "timestamp",
  ttl: "ttl",
  count: "chord_count",
  members: "members",
  status: "status",
  writeId: "write_id",
  /** `TaskRecord.updatedAt`, epoch seconds as `timestamp`: the record's last write by core's clock. */
  updatedAt: "updated_at",
  /** The find indexes' sort key, `<ms>#<task id>` ({@link findPosition}). */
  position: "find_position",
  /** The all-tasks index's partition key, {@link LISTED}: present on task items only. */
  listed: "find_all",
} as const;

/** The one value of `find_all`: every listed task shares the all-tasks index's partition. */
export const LISTED = "task";
/** Digits of the time in `find_position`: ms since 1970 up to year 33658, zero-padded to sort as text. */
const POSITION_DIGITS = 15;

/**
 * `find`'s order as one string DynamoDB sorts by its UTF-8 bytes: the effective time in ms,
 * zero-padded, `#`, the task id. Fixed width makes text order the time order, and UTF-8 byte
 * order is the code point order core ties by (`compareTaskIds`). No time (never on our writes:
 * core stamps `updatedAt`) gives `#<id>`, below every digit: the oldest, as core sorts it.
 */
export function findPosition(time: Date | null, taskId: string): string {
  return time ? `${timeKey(time.getTime())}#${taskId}` : `#${taskId}`;
}

/** The time part of `find_position`; a time before 1970 (not one core stamps) sorts as 1970. */
export function timeKey(ms: number): string {
  return String(Math.max(0, ms)).padStart(POSITION_DIGITS, "0");
}

export const METADATA_PREFIX = "meta_";

/** The optional record fields, each kept in the attribute named after Celery's meta key. */
const OPTIONAL_FIELDS = ["children", ...REQUEST_FIELDS] as const;
const attributeOf = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** DynamoDB's limit on one expression string. */
const MAX_EXPRESSION_BYTES = 4096;
/** BatchGetItem's limit on keys per call. */
const BATCH_KEYS = 100;
/** Rounds of UnprocessedKeys (throttling, or the 16 MB response cap) before giving up. */
const MAX_UNPROCESSED_ROUNDS = 10;

export const itemKey = (id: string): Item => ({ [ATTR.id]: { S: id } });

/** Item ids as Celery's DynamoDB backend spells them: `str()` of a bytes key (README "Item layout"). */
export function itemKeys(config: ResolvedConfig): CeleryKeys {
  const spell = config.keyFormat === "celery" ? pythonBytesRepr : undefined;
  return new CeleryKeys(celeryKeyPrefix(config.keyPrefix), { spell });
}

/** Python's `repr(bytes)` of `text` in UTF-8, exactly, so both sides address the same item. */
export function pythonBytesRepr(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  // Python picks double quotes only when the bytes hold a single quote and no double quote.
  const quote = bytes.includes(0x27) && !bytes.includes(0x22) ? '"' : "'";
  let out = `b${quote}`;
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    if (char === quote || char === "\\") out += `\\${char}`;
    else if (char === "\t") out += "\\t";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    else out += char;
  }
  return `${out}${quote}`;
}

/** Epoch seconds as DynamoDB's N, fractions kept (Celery writes `str(time())`). */
export function epochSeconds(date: Date | number): AttributeValue {
  return { N: String((typeof date === "number" ? date : date.getTime()) / 1000) };
}

/** The `ttl` value for an expiry: whole seconds (what DynamoDB TTL reads), never before `expiresAt`. */
export function ttlValue(expiresAt: Date): AttributeValue {
  return { N: String(Math.ceil(expiresAt.getTime() / 1000)) };
}

/** The whole item `write` produces, checked against DynamoDB's 400 KB before anything is sent. */
function taskItem(id: string, write: TaskWrite): Item {
  const nowMs = Date.now();
  // The blob Celery reads: this write's meta alone, exactly as a Celery worker would store it.
  const record = applyWrite(null, write, new Date(nowMs)) as TaskRecord;
  const blob = encodeMeta(record, { resultJson: write.resultJson, includeMetadata: false });
  const item: Item = {
    [ATTR.id]: { S: id },
    [ATTR.result]: { B: Buffer.from(blob, "utf8") },
    [ATTR.timestamp]: epochSeconds(nowMs),
    [ATTR.status]: { S: write.status },
  };
  for (const field of OPTIONAL_FIELDS) {
    if (write[field] !== undefined) item[attributeOf(field)] = { S: encodeJson(write[field]) };
  }
  for (const [key, value] of Object.entries(write.metadata ?? {})) {
    item[`${METADATA_PREFIX}${key}`] = { S: encodeJson(value) };
  }
  if (write.expiresAt) item[ATTR.ttl] = ttlValue(write.expiresAt);
  if (write.writeId) item[ATTR.writeId] = { S: write.writeId };
  if (write.updatedAt) item[ATTR.updatedAt] = epochSeconds(write.updatedAt);
  // Sparse indexes: an item without the sort key is in neither, so a chord claim never is.
  if (!isInternalTaskId(write.taskId)) {
    item[ATTR.position] = { S: findPosition(write.updatedAt ?? write.dateDone, write.taskId) };
    item[ATTR.listed] = { S: LISTED };
  }
  const size = itemBytes(item);
  if (size > ITEM_LIMIT_BYTES) throw new ValueTooLargeError(BACKEND_NAME, size, ITEM_LIMIT_BYTES);
  return item;
}

/** A ConditionExpression built on `expr` for the time `now` (epoch seconds). */
type Condition = (expr: Expression, now: AttributeValue) => string;
/** `resent`: the SDK sent the request more than once (its own retry), so a copy may have landed. */
type Attempt = { applied: true } | { applied: false; old: Item | undefined; resent: boolean };

/** The guarded task write (README "How the guard and merge are atomic"). */
export function writeTask({ client, name }: Table, id: string, write: TaskWrite) {
  const item = taskItem(id, write);
  let resent = false;
  const refused = (): WriteOutcome => (resent ? { applied: false, resent } : { applied: false });
  // One conditional request: applied, or refused with the item DynamoDB checked.
  const send = (request: () => Promise<unknown>): Promise<Attempt> =>
    writeErrors.guard(
      `write of task ${write.taskId}`,
      () => request().then((): Attempt => ({ applied: true })),
      (error) =>
        writeErrors.statusOf(error) === CONDITION_FAILED
          ? { applied: false, old: (error as { Item?: Item }).Item, resent: sentAgain(error) }
          : undefined,
    );
  const update = (values: Item, nowMs: number, condition: Condition) =>
    send(() => client.send(new UpdateItemCommand(taskUpdate(name, values, nowMs, condition))));
  return retryLostRaces(BACKEND_NAME, `write of task ${write.taskId}`, async () => {
    const nowMs = Date.now();
    const first = await update(item, nowMs, stateAllows(write.status));
    if (first.applied) return { applied: true };
    resent ||= first.resent;
    const old = first.old;
    if (!old) return LOST_RACE; // deleted since the check: try again from the top
    if (isExpired({ expiresAt: dateAttr(old, ATTR.ttl) }, new Date(nowMs))) {
      const Item = { ...item, [ATTR.timestamp]: epochSeconds(nowMs) };
      const replace = new PutItemCommand({ TableName: name, Item, ...stillExpired(nowMs) });
      return (await send(() => client.send(replace))).applied ? { applied: true } : LOST_RACE;
    }
    // A re-sent copy of a write that landed (the SDK's own retry, or alwaysRetry) finds itself.
    if (write.writeId && old[ATTR.writeId]?.S === write.writeId) return { applied: true };
    const storedStatus = old[ATTR.status]?.S;
    if (storedStatus !== undefined) {
      // Our live item refused the write: the state rules said no, atomically.
      return canTransition(storedStatus, write.status) ? LOST_RACE : refused();
    }
    const stored = decodeTask(old, write.taskId);
    if (stored && !canTransition(stored.status, write.status)) return refused();
    // The optional fields the Celery-written blob holds and the write lacks are kept (the merge).
    const merged: Record<string, unknown> = { ...write };
    for (const field of OPTIONAL_FIELDS) {
      if (merged[field] === undefined && stored && stored[field] !== null)
        merged[field] = stored[field];
    }
    const swap = await update(taskItem(id, merged as TaskWrite), nowMs, blobUnchanged(old));
    return swap.applied ? { applied: true } : LOST_RACE;
  });
}

/** UpdateItem of `item` under `condition`; past DynamoDB's 4 KB expression it is refused here. */
function taskUpdate(table: string, item: Item, nowMs: number, condition: Condition) {
  const expr = new Expression();
  const values: Item = { ...item, [ATTR.timestamp]: epochSeconds(nowMs) };
  delete values[ATTR.id]; // addressed by `Key`
  const sets = Object.entries(values).map(
    ([name, value]) => `${expr.name(name)} = ${expr.value(value)}`,
  );
  const remove = item[ATTR.ttl] ? "" : ` REMOVE ${expr.name(ATTR.ttl)}`;
  const update = `SET ${sets.join(", ")}${remove}`;
  if (Buffer.byteLength(update) > MAX_EXPRESSION_BYTES) {
    const keys = Object.keys(item).filter((name) => name.startsWith(METADATA_PREFIX)).length;
    throw new InvalidMetadataError(
      `A write with ${keys} metadata keys exceeds DynamoDB's 4 KB update expression; ` +
        "write at most about 200 keys at a time.",
      BACKEND_NAME,
    );
  }
  return {
    TableName: table,
    Key: { [ATTR.id]: item[ATTR.id] as AttributeValue },
    ReturnValuesOnConditionCheckFailure: "ALL_OLD" as const,
    UpdateExpression: update,
    ConditionExpression: condition(expr, epochSeconds(nowMs)),
    ...expr.placeholders(),
  };
}

/** The state rules: no item, or our live item (it has `status`) in a state that allows `status`. */
function stateAllows(status: TaskState): Condition {
  return (expr, now) => {
    const stored = expr.name(ATTR.status);
    const refusing = statesRefusing(status).map((state) => expr.value({ S: state }));
    return (
      `attribute_not_exists(${expr.name(ATTR.id)}) OR (attribute_exists(${stored}) ` +
      `AND NOT (${stored} IN (${refusing.join(", ")})) AND ${expr.live(ATTR.ttl, now)})`
    );
  };
}

/** Compare-and-swap on a Celery-written item: still without `status`, still the same blob. */
function blobUnchanged(old: Item): Condition {
  return (expr, now) => {
    const result = expr.name(ATTR.result);
    const blob = old[ATTR.result];
    const same = blob ? `${result} = ${expr.value(blob)}` : `attribute_not_exists(${result})`;
    return `attribute_not_exists(${expr.name(ATTR.status)}) AND ${same} AND ${expr.live(ATTR.ttl, now)}`;
  };
}

/** The condition that the item is (still) expired at `now`, for a replacing put or a cleanup delete. */
export function stillExpired(now: Date | number) {
  const expr = new Expression();
  return { ConditionExpression: expr.expired(ATTR.ttl, epochSeconds(now)), ...expr.placeholders() };
}

/** The items of `ids` (strongly consistent) by id, for `readMany`; missing ids are absent. */
export async function batchGet({ client, name }: Table, ids: readonly string[]) {
  const found = new Map<string, Item>();
  const readBatch = async (batch: string[]) => {
    let keys = batch.map(itemKey);
    for (let round = 0; keys.length > 0; round++) {
      if (round > MAX_UNPROCESSED_ROUNDS) {
        throw new BackendError(
          BACKEND_NAME,
          `BatchGetItem left ${keys.length} keys unprocessed after ${MAX_UNPROCESSED_ROUNDS} retries.`,
        );
      }
      // DynamoDB returns UnprocessedKeys when throttled: back off as Celery's always_retry does.
      if (round > 0) await setTimeout(backoffMs(round, DEFAULT_RETRY_POLICY));
      const request = { RequestItems: { [name]: { Keys: keys, ConsistentRead: true } } };
      const output = await errors.guard(`read of ${keys.length} tasks`, () =>
        client.send(new BatchGetItemCommand(request)),
      );
      for (const item of output.Responses?.[name] ?? []) {
        const id = item[ATTR.id]?.S;
        if (id !== undefined) found.set(id, item);
      }
      keys = output.UnprocessedKeys?.[name]?.Keys ?? [];
    }
  };
  // BatchGetItem rejects duplicate keys.
  await Promise.all(chunks([...new Set(ids)], BATCH_KEYS).map(readBatch));
  return found;
}

/** The date an attribute of epoch seconds holds (`ttl`, `timestamp`), or null. */
function dateAttr(item: Item, name: string): Date | null {
  const seconds = Number(item[name]?.N ?? Number.NaN);
  // Rounded: "1718000000.123" * 1000 is not exactly an integer in binary floating point.
  return Number.isFinite(seconds) ? new Date(Math.round(seconds * 1000)) : null;
}

/** The record an item holds: Celery's meta from `result`, overlaid with our attributes if any. */
export function decodeTask(item: Item | undefined, taskId: string): TaskRecord | null {
  const blob = item?.[ATTR.result]?.B;
  if (!item || !blob) return null;
  const record = decodeMeta(blob, taskId);
  for (const field of OPTIONAL_FIELDS) {
    const text = item[attributeOf(field)]?.S;
    if (text !== undefined)
      (record as unknown as Record<string, unknown>)[field] = decodeJson(text);
  }
  // fromEntries defines each key, so a stored "__proto__" stays data (core refuses it on write).
  record.metadata = Object.fromEntries(
    Object.entries(item).flatMap(([name, { S }]) =>
      name.startsWith(METADATA_PREFIX) && S !== undefined
        ? [[name.slice(METADATA_PREFIX.length), decodeJson(S)]]
        : [],
    ),
  );
  record.expiresAt = dateAttr(item, ATTR.ttl);
  record.updatedAt = dateAttr(item, ATTR.updatedAt);
  return record;
}

/** Celery's group item: `result` = `{"result": <GroupResult.as_tuple()>}`. */
export function encodeGroup(id: string, group: GroupRecord): Item {
  return {
    [ATTR.id]: { S: id },
    [ATTR.result]: { B: Buffer.from(encodeJson({ result: groupTuple(group) }), "utf8") },
    [ATTR.timestamp]: epochSeconds(group.dateDone),
    ...(group.expiresAt ? { [ATTR.ttl]: ttlValue(group.expiresAt) } : {}),
  };
}

export function decodeGroup(item: Item | undefined, groupId: string): GroupRecord | null {
  const blob = item?.[ATTR.result]?.B;
  if (!item || !blob) return null;
  const value = decodeJson(blob);
  return {
    groupId,
    taskIds: taskIdsFromGroupValue(isPlainObject(value) ? value.result : undefined),
    // Celery keeps no date in the group value; its `timestamp` attribute is when it was saved.
    dateDone: dateAttr(item, ATTR.timestamp) ?? new Date(0),
    expiresAt: dateAttr(item, ATTR.ttl),
  };
}

/** DynamoDB's size of an item: UTF-8 attribute names plus values (N counted at its maximum). */
function itemBytes(item: Item): number {
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
