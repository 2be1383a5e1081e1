/** Test helpers: a raw SDK client for the server under test and fresh namespaces. */
import { randomUUID } from "node:crypto";
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { decodeJson } from "@resultstore/core";

/** A namespace no other test (or parallel test file) uses. */
export const freshNamespace = (label = "t") => `${label}${randomUUID().slice(0, 8)}`;

/** A plain SDK client for the `dynamodb://key:secret@host:port` test URL, built without our code. */
export function rawClient(url: string): DynamoDBClient {
  const parsed = new URL(url);
  return new DynamoDBClient({
    region: "us-east-1",
    endpoint: `http://${parsed.hostname}:${parsed.port || "8000"}`,
    credentials: {
      accessKeyId: decodeURIComponent(parsed.username),
      secretAccessKey: decodeURIComponent(parsed.password),
    },
  });
}

/** Celery's spelling of a task key for an ASCII id without quotes: `b'celery-task-meta-<id>'`. */
export const celeryTaskKey = (taskId: string) => `b'celery-task-meta-${taskId}'`;

/**
 * A table as an operator (or an older version of this package) creates it: the key schema only,
 * no TTL, no find indexes.
 */
export const createTableWithoutIndexes = (client: DynamoDBClient, table: string) =>
  client.send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );

export async function getRawItem(client: DynamoDBClient, table: string, id: string) {
  const output = await client.send(
    new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }),
  );
  return output.Item ?? null;
}

/** The conformance suite's RawRecord, read straight from the item's attributes. */
export async function readRawRecord(client: DynamoDBClient, table: string, taskId: string) {
  const item = await getRawItem(client, table, celeryTaskKey(taskId));
  if (!item) return null;
  const metadata: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith("meta_") && value.S !== undefined)
      metadata[name.slice(5)] = decodeJson(value.S);
  }
  const blob = item.result?.B ? (decodeJson(item.result.B) as { status: string }) : null;
  return {
    status: item.status?.S ?? blob?.status ?? "",
    metadata,
    expiresAt: item.ttl?.N ? new Date(Number(item.ttl.N) * 1000) : null,
  };
}
