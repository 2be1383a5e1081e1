// The floor for dynamodb://: the SDK's bare calls on a table of Celery's shape. store = an
// unguarded PutItem of the Celery item (id, result blob, timestamp), get = a GetItem, incr = an
// UpdateItem ADD on chord_count returning the new value. No conditions, no merge, no TTL.
import { randomUUID } from "node:crypto";
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";

export async function createRaw(url, payload) {
  const parsed = new URL(url);
  const local = parsed.hostname === "localhost" || /^[\d.]+$|^\[/.test(parsed.hostname);
  const client = new DynamoDBClient({
    region: local ? "us-east-1" : parsed.hostname || undefined,
    ...(local ? { endpoint: `http://${parsed.hostname}:${parsed.port || 8000}` } : {}),
    ...(parsed.username
      ? {
          credentials: {
            accessKeyId: decodeURIComponent(parsed.username),
            secretAccessKey: decodeURIComponent(parsed.password),
          },
        }
      : {}),
  });
  const TableName = `bench_raw_${randomUUID().slice(0, 8)}`;
  await client.send(
    new CreateTableCommand({
      TableName,
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 120 }, { TableName });
  const key = (id) => ({ id: { S: `b'celery-task-meta-${id}'` } });
  return {
    name: "@aws-sdk/client-dynamodb PutItem/GetItem/UpdateItem ADD",
    store: (id) => {
      const blob = JSON.stringify({
        status: "SUCCESS",
        result: payload,
        traceback: null,
        children: [],
        date_done: new Date().toISOString(),
        task_id: id,
      });
      return client.send(
        new PutItemCommand({
          TableName,
          Item: {
            ...key(id),
            result: { B: Buffer.from(blob) },
            timestamp: { N: String(Date.now() / 1000) },
          },
        }),
      );
    },
    get: async (id) => {
      const { Item } = await client.send(new GetItemCommand({ TableName, Key: key(id) }));
      return Item ? JSON.parse(Buffer.from(Item.result.B).toString("utf8")) : null;
    },
    incr: async (counter) => {
      const output = await client.send(
        new UpdateItemCommand({
          TableName,
          Key: { id: { S: `b'${counter}'` } },
          UpdateExpression: "ADD chord_count :one",
          ExpressionAttributeValues: { ":one": { N: "1" } },
          ReturnValues: "UPDATED_NEW",
        }),
      );
      return Number(output.Attributes.chord_count.N);
    },
    close: async () => {
      await client.send(new DeleteTableCommand({ TableName })).catch(() => undefined);
      client.destroy();
    },
  };
}
