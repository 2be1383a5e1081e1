// The floor for dynamodb://: the SDK's bare calls on a table of Celery's shape. store = an
// unguarded PutItem of the Celery item (id, result blob, timestamp), get = a GetItem, getMany = a
// BatchGetItem of 100 keys (its limit; unprocessed keys are not retried here), incr = an
// UpdateItem ADD on chord_count returning the new value. No conditions, no merge, no TTL.
import {
  BatchGetItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { celeryValue, dynamoTable } from "../lib/clients.mjs";

export async function createRaw(url, payload) {
  const { client, TableName, close } = await dynamoTable(url, "bench_raw");
  const key = (id) => ({ id: { S: `b'celery-task-meta-${id}'` } });
  const decode = (item) => JSON.parse(Buffer.from(item.result.B).toString("utf8"));
  const write = (id, status, result, metadata) =>
    client.send(
      new PutItemCommand({
        TableName,
        Item: {
          ...key(id),
          result: { B: Buffer.from(celeryValue(id, status, result, metadata)) },
          timestamp: { N: String(Date.now() / 1000) },
        },
      }),
    );
  return {
    name: "@aws-sdk/client-dynamodb PutItem/GetItem/BatchGetItem/UpdateItem ADD",
    write,
    store: (id) => write(id, "SUCCESS", payload),
    get: async (id) => {
      const { Item } = await client.send(new GetItemCommand({ TableName, Key: key(id) }));
      return Item ? decode(Item) : null;
    },
    getMany: async (ids) => {
      const { Responses } = await client.send(
        new BatchGetItemCommand({ RequestItems: { [TableName]: { Keys: ids.map(key) } } }),
      );
      return Responses[TableName].map(decode);
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
    close,
  };
}
