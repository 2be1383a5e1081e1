/**
 * The guarded task write. The common case is ONE UpdateItem whose ConditionExpression is core's
 * `statesRefusing(incoming)`: the server applies the write, or refuses it, atomically. `SET` only
 * touches the attributes the write carries, so optional fields and metadata keys it lacks keep
 * their stored values (the merge). When the condition fails, DynamoDB hands back the item it
 * checked (ReturnValuesOnConditionCheckFailure), which tells the three reasons apart without
 * another read:
 *  - our live item in a refusing state: refused, `{applied: false}`;
 *  - an expired item (TTL deletes lazily): it counts as absent, so a PutItem replaces it, on the
 *    condition that it is still expired;
 *  - an item a Celery worker wrote (PutItem of id/result/timestamp: no `status` attribute): the
 *    state comes from its blob, and the write is a compare-and-swap on that blob.
 * A lost race in the last two paths starts over; each path is a single conditional request.
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  BackendError,
  canTransition,
  InvalidMetadataError,
  statesRefusing,
  type TaskRecord,
  type TaskWrite,
  ValueTooLargeError,
  type WriteOutcome,
} from "@resultstore/core";
import { BACKEND_NAME, errorName, ITEM_LIMIT_BYTES, wrapError } from "./errors.js";
import { Expression, MAX_EXPRESSION_BYTES } from "./expression.js";
import {
  ATTR,
  epochSeconds,
  type Item,
  itemBytes,
  itemExpired,
  OPTIONAL_FIELDS,
  recordFromItem,
  taskAttributes,
  ttlValue,
} from "./item.js";

/** Rounds of the fallback paths before giving up (each round means another writer won a race). */
const MAX_ROUNDS = 8;

type Attempt = { applied: true } | { applied: false; old: Item | undefined };

export class TaskWriter {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async write(id: string, write: TaskWrite): Promise<WriteOutcome> {
    const attributes = itemAttributes(id, write);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const nowMs = Date.now();
      const first = await this.update(id, write, attributes, nowMs, guardCondition(write));
      if (first.applied) return { applied: true };
      const old = first.old;
      if (!old) continue; // deleted since the check: try again from the top
      if (itemExpired(old, nowMs)) {
        if (await this.replaceExpired(write, attributes, nowMs)) return { applied: true };
        continue;
      }
      const storedStatus = old[ATTR.status]?.S;
      if (storedStatus !== undefined) {
        // Our live item refused the write: the state rules said no, atomically.
        if (!canTransition(storedStatus, write.status)) return { applied: false };
        continue;
      }
      const stored = recordFromItem(old, write.taskId);
      if (stored && !canTransition(stored.status, write.status)) return { applied: false };
      const merged = withStoredFields(write, stored);
      const swapped = await this.update(
        id,
        merged,
        itemAttributes(id, merged),
        nowMs,
        blobUnchanged(old),
      );
      if (swapped.applied) return { applied: true };
    }
    throw new BackendError(
      BACKEND_NAME,
      `Writing task ${write.taskId} lost ${MAX_ROUNDS} races in a row; try again.`,
    );
  }

  /** One conditional UpdateItem; `condition` adds its own clause to the shared expression. */
  private async update(
    id: string,
    write: TaskWrite,
    attributes: Item,
    nowMs: number,
    condition: (expr: Expression, now: AttributeValue) => string,
  ): Promise<Attempt> {
    const expr = new Expression();
    // The key is addressed by `Key`; every other attribute is SET (timestamp: this attempt's).
    const values: Item = { ...attributes, [ATTR.timestamp]: epochSeconds(nowMs) };
    delete values[ATTR.id];
    const updateExpression = expr.update(values, write.expiresAt ? [] : [ATTR.ttl]);
    const conditionExpression = condition(expr, epochSeconds(nowMs));
    checkExpressionSize(updateExpression, write);
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { [ATTR.id]: { S: id } },
          UpdateExpression: updateExpression,
          ConditionExpression: conditionExpression,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ...expr.placeholders(),
        }),
      );
      return { applied: true };
    } catch (error) {
      if (errorName(error) !== "ConditionalCheckFailedException")
        throw wrapError(error, `Writing task ${write.taskId}`);
      return { applied: false, old: (error as { Item?: Item }).Item };
    }
  }

  /** Replaces an expired item whole (nothing of it may survive), if it is still expired. */
  private async replaceExpired(
    write: TaskWrite,
    attributes: Item,
    nowMs: number,
  ): Promise<boolean> {
    const expr = new Expression();
    const item: Item = { ...attributes, [ATTR.timestamp]: epochSeconds(nowMs) };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: expr.expired(ATTR.ttl, epochSeconds(nowMs)),
          ...expr.placeholders(),
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === "ConditionalCheckFailedException") return false;
      throw wrapError(error, `Writing task ${write.taskId}`);
    }
  }
}

/**
 * The state rules as a ConditionExpression: no item, or our live item (it has `status`) in a state
 * that does not refuse `write.status`.
 */
function guardCondition(write: TaskWrite) {
  return (expr: Expression, now: AttributeValue): string => {
    const status = expr.name(ATTR.status);
    const refusing = statesRefusing(write.status).map((state) => expr.value({ S: state }));
    return (
      `attribute_not_exists(${expr.name(ATTR.id)}) OR (attribute_exists(${status}) ` +
      `AND NOT (${status} IN (${refusing.join(", ")})) AND ${expr.live(ATTR.ttl, now)})`
    );
  };
}

/** Compare-and-swap on a Celery-written item: still without `status`, still the same blob. */
function blobUnchanged(old: Item) {
  return (expr: Expression, now: AttributeValue): string => {
    const result = expr.name(ATTR.result);
    const blob = old[ATTR.result];
    const same = blob ? `${result} = ${expr.value(blob)}` : `attribute_not_exists(${result})`;
    return `attribute_not_exists(${expr.name(ATTR.status)}) AND ${same} AND ${expr.live(ATTR.ttl, now)}`;
  };
}

/** `write` plus the optional fields a Celery-written record holds and the write lacks (the merge). */
function withStoredFields(write: TaskWrite, stored: TaskRecord | null): TaskWrite {
  const merged = { ...write } as Record<string, unknown>;
  for (const field of OPTIONAL_FIELDS) {
    if (merged[field] === undefined && stored && stored[field] !== null)
      merged[field] = stored[field];
  }
  return merged as TaskWrite;
}

/**
 * The whole item `write` produces (key, attributes, `ttl`), checked against DynamoDB's 400 KB
 * before anything is sent.
 */
function itemAttributes(id: string, write: TaskWrite): Item {
  const item: Item = { [ATTR.id]: { S: id }, ...taskAttributes(write, Date.now()) };
  if (write.expiresAt) item[ATTR.ttl] = ttlValue(write.expiresAt);
  const size = itemBytes(item);
  if (size > ITEM_LIMIT_BYTES) throw new ValueTooLargeError(BACKEND_NAME, size, ITEM_LIMIT_BYTES);
  return item;
}

function checkExpressionSize(updateExpression: string, write: TaskWrite): void {
  if (Buffer.byteLength(updateExpression) <= MAX_EXPRESSION_BYTES) return;
  const keys = Object.keys(write.metadata ?? {}).length;
  throw new InvalidMetadataError(
    `[${BACKEND_NAME}] A write with ${keys} metadata keys exceeds DynamoDB's 4 KB update expression; ` +
      "write at most about 200 keys at a time.",
  );
}
