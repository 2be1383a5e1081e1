/** Multi-item operations: BatchGetItem for `readMany`, Scan plus conditional deletes for `cleanup`. */
import {
  BatchGetItemCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { BackendError, DEFAULT_RETRY_POLICY } from "@resultstore/core";
import { backoffMs } from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";
import { CONDITION_FAILED, errors } from "./errors.js";
import { Expression } from "./expression.js";
import { ATTR, epochSeconds, type Item } from "./records.js";

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
    const request = { RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } };
    const output = await errors.guard(`Reading ${keys.length} tasks`, () =>
      client.send(new BatchGetItemCommand(request)),
    );
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
    const scan = new ScanCommand({
      TableName: table,
      FilterExpression: expr.expired(ATTR.ttl, epochSeconds(nowMs)),
      ProjectionExpression: expr.name(ATTR.id),
      ConsistentRead: true,
      ExclusiveStartKey: startKey,
      ...expr.placeholders(),
    });
    const page = await errors.guard(`Scanning ${table} for expired items`, () => client.send(scan));
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
  const command = new DeleteItemCommand({
    TableName: table,
    Key: { [ATTR.id]: { S: id } },
    ConditionExpression: expr.expired(ATTR.ttl, epochSeconds(nowMs)),
    ...expr.placeholders(),
  });
  return errors.guard(
    `Deleting expired item ${id}`,
    async () => Boolean(await client.send(command)),
    errors.on([CONDITION_FAILED], false),
  );
}
