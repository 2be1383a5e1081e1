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
  canTransition,
  InvalidMetadataError,
  statesRefusing,
  type TaskRecord,
  type TaskWrite,
  ValueTooLargeError,
  type WriteOutcome,
} from "@resultstore/core";
import { LOST_RACE, retryLostRaces } from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";
import { CONDITION_FAILED, errorName, ITEM_LIMIT_BYTES, sentAgain, writeErrors } from "./errors.js";
import { Expression, MAX_EXPRESSION_BYTES } from "./expression.js";
import {
  ATTR,
  decodeTask,
  encodeTask,
  epochSeconds,
  type Item,
  itemBytes,
  itemExpired,
  OPTIONAL_FIELDS,
  ttlValue,
} from "./records.js";

/** `resent`: the SDK sent the request more than once (its own retry), so a copy may have landed. */
type Attempt = { applied: true } | { applied: false; old: Item | undefined; resent: boolean };

export class TaskWriter {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  write(id: string, write: TaskWrite): Promise<WriteOutcome> {
    const attributes = itemAttributes(id, write);
    let resent = false;
    const refused = (): WriteOutcome => (resent ? { applied: false, resent } : { applied: false });
    return retryLostRaces(BACKEND_NAME, `write of task ${write.taskId}`, async () => {
      const nowMs = Date.now();
      const first = await this.update(id, write, attributes, nowMs, guardCondition(write));
      if (first.applied) return { applied: true };
      resent ||= first.resent;
      const old = first.old;
      if (!old) return LOST_RACE; // deleted since the check: try again from the top
      if (itemExpired(old, nowMs)) {
        const replaced = await this.replaceExpired(write, attributes, nowMs);
        return replaced ? { applied: true } : LOST_RACE;
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
      const merged = withStoredFields(write, stored);
      const swapped = await this.update(
        id,
        merged,
        itemAttributes(id, merged),
        nowMs,
        blobUnchanged(old),
      );
      return swapped.applied ? { applied: true } : LOST_RACE;
    });
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
    const command = new UpdateItemCommand({
      TableName: this.table,
      Key: { [ATTR.id]: { S: id } },
      UpdateExpression: updateExpression,
      ConditionExpression: conditionExpression,
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      ...expr.placeholders(),
    });
    return writeErrors.guard(
      `Writing task ${write.taskId}`,
      async (): Promise<Attempt> => {
        await this.client.send(command);
        return { applied: true };
      },
      // The condition failed: DynamoDB hands back the item it checked.
      (error) =>
        errorName(error) === CONDITION_FAILED
          ? { applied: false, old: (error as { Item?: Item }).Item, resent: sentAgain(error) }
          : undefined,
    );
  }

  /** Replaces an expired item whole (nothing of it may survive), if it is still expired. */
  private async replaceExpired(
    write: TaskWrite,
    attributes: Item,
    nowMs: number,
  ): Promise<boolean> {
    const expr = new Expression();
    const command = new PutItemCommand({
      TableName: this.table,
      Item: { ...attributes, [ATTR.timestamp]: epochSeconds(nowMs) },
      ConditionExpression: expr.expired(ATTR.ttl, epochSeconds(nowMs)),
      ...expr.placeholders(),
    });
    return writeErrors.guard(
      `Writing task ${write.taskId}`,
      async () => Boolean(await this.client.send(command)),
      writeErrors.on([CONDITION_FAILED], false),
    );
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
  const item: Item = { [ATTR.id]: { S: id }, ...encodeTask(write, Date.now()) };
  if (write.expiresAt) item[ATTR.ttl] = ttlValue(write.expiresAt);
  if (write.writeId) item[ATTR.writeId] = { S: write.writeId };
  const size = itemBytes(item);
  if (size > ITEM_LIMIT_BYTES) throw new ValueTooLargeError(BACKEND_NAME, size, ITEM_LIMIT_BYTES);
  return item;
}

function checkExpressionSize(updateExpression: string, write: TaskWrite): void {
  if (Buffer.byteLength(updateExpression) <= MAX_EXPRESSION_BYTES) return;
  const keys = Object.keys(write.metadata ?? {}).length;
  throw new InvalidMetadataError(
    `A write with ${keys} metadata keys exceeds DynamoDB's 4 KB update expression; ` +
      "write at most about 200 keys at a time.",
    BACKEND_NAME,
  );
}
