/** Multi-item operations: BatchGetItem for `readMany`, Scan plus conditional deletes for `cleanup`. */
import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  DeleteItemCommand,
  type DynamoDBClient,
  ScanCommand,
  type ScanCommandOutput,
} from "@aws-sdk/client-dynamodb";
import { BackendError, backoffMs, DEFAULT_RETRY_POLICY } from "@resultstore/core";
import { BACKEND_NAME, errorName, wrapError } from "./errors.js";
import { Expression } from "./expression.js";
import { ATTR, epochSeconds, type Item } from "./item.js";

/** BatchGetItem's limit on keys per call. */
const BATCH_KEYS = 100;
/** Rounds of UnprocessedKeys (throttling, or the 16 MB response cap) before giving up. */
const MAX_UNPROCESSED_ROUNDS = 10;
/** Conditional deletes cleanup keeps in flight. */
const DELETE_CONCURRENCY = 16;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The items for `ids` (strongly consistent), by id; missing ids are absent from the map. */
export async function batchGet(
  client: DynamoDBClient,
  table: string,
  ids: readonly string[],
): Promise<Map<string, Item>> {
  const found = new Map<string, Item>();
  const unique = [...new Set(ids)]; // BatchGetItem rejects duplicate keys
  const chunks: string[][] = [];
  for (let i = 0; i < unique.length; i += BATCH_KEYS) chunks.push(unique.slice(i, i + BATCH_KEYS));
  await Promise.all(chunks.map((chunk) => batchGetChunk(client, table, chunk, found)));
  return found;
}

async function batchGetChunk(
  client: DynamoDBClient,
  table: string,
  ids: string[],
  found: Map<string, Item>,
): Promise<void> {
  let keys = ids.map((id) => ({ [ATTR.id]: { S: id } }));
  for (let round = 0; keys.length > 0; round++) {
    if (round > 0) {
      if (round > MAX_UNPROCESSED_ROUNDS) {
        throw new BackendError(
          BACKEND_NAME,
          `BatchGetItem left ${keys.length} keys unprocessed after ${MAX_UNPROCESSED_ROUNDS} retries.`,
        );
      }
      // DynamoDB returns UnprocessedKeys when throttled: back off as Celery's always_retry does.
      await sleep(backoffMs(round, DEFAULT_RETRY_POLICY));
    }
    let output: BatchGetItemCommandOutput;
    try {
      output = await client.send(
        new BatchGetItemCommand({
          RequestItems: { [table]: { Keys: keys, ConsistentRead: true } },
        }),
      );
    } catch (error) {
      throw wrapError(error, `Reading ${keys.length} tasks`);
    }
    for (const item of output.Responses?.[table] ?? []) {
      const id = item[ATTR.id]?.S;
      if (id !== undefined) found.set(id, item);
    }
    keys = (output.UnprocessedKeys?.[table]?.Keys ?? []) as typeof keys;
  }
}

/**
 * Deletes every item whose `ttl` has passed at `nowMs` and returns how many it deleted. Each
 * delete is conditional on the item still being expired, so a counter or record rewritten since
 * the scan survives. DynamoDB's TTL does the same eventually; this makes it exact and immediate.
 */
export async function deleteExpired(
  client: DynamoDBClient,
  table: string,
  nowMs: number,
): Promise<number> {
  let deleted = 0;
  let startKey: Item | undefined;
  do {
    const expr = new Expression();
    let page: ScanCommandOutput;
    try {
      page = await client.send(
        new ScanCommand({
          TableName: table,
          FilterExpression: expr.expired(ATTR.ttl, epochSeconds(nowMs)),
          ProjectionExpression: expr.name(ATTR.id),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
          ...expr.placeholders(),
        }),
      );
    } catch (error) {
      throw wrapError(error, `Scanning ${table} for expired items`);
    }
    const ids = (page.Items ?? [])
      .map((item) => item[ATTR.id]?.S)
      .filter((id): id is string => id !== undefined);
    deleted += await deleteAll(client, table, ids, nowMs);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return deleted;
}

async function deleteAll(
  client: DynamoDBClient,
  table: string,
  ids: string[],
  nowMs: number,
): Promise<number> {
  let deleted = 0;
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      if (await deleteIfExpired(client, table, id, nowMs)) deleted++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, ids.length) }, worker));
  return deleted;
}

async function deleteIfExpired(
  client: DynamoDBClient,
  table: string,
  id: string,
  nowMs: number,
): Promise<boolean> {
  const expr = new Expression();
  try {
    await client.send(
      new DeleteItemCommand({
        TableName: table,
        Key: { [ATTR.id]: { S: id } },
        ConditionExpression: expr.expired(ATTR.ttl, epochSeconds(nowMs)),
        ...expr.placeholders(),
      }),
    );
    return true;
  } catch (error) {
    if (errorName(error) === "ConditionalCheckFailedException") return false;
    throw wrapError(error, `Deleting expired item ${id}`);
  }
}
