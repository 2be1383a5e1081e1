// DynamoDB: resultstore-celery's DynamoDBBackend against @resultstore/backend-dynamodb on the same
// table, attribute by attribute (the `result` blob compared as the JSON Celery reads).
import { randomUUID } from "node:crypto";
import { type AttributeValue, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import * as dynamodb from "@resultstore/backend-dynamodb";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe } from "vitest";
import { packageEnv } from "./env.js";
import { parityTests } from "./parity.js";

const target = serverTarget("DYNAMODB");

/** An item with times and write ids replaced by their kind, the blob parsed. */
function normalized(item: Record<string, AttributeValue>, id: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) {
    if (name === "id") continue;
    if (name === "timestamp" || name === "ttl" || name === "updated_at")
      out[name] = value.N ? "<epoch seconds>" : value;
    else if (name === "find_position")
      out[name] = value.S?.replace(/^\d{15}#/, "<ms>#").replace(id, "<task id>") ?? value;
    else if (name === "write_id") out[name] = value.S ? "<write id>" : value;
    else if (name === "result" && value.B) {
      const meta = JSON.parse(Buffer.from(value.B).toString("utf8"));
      if (meta.date_done) meta.date_done = "<date>";
      if (meta.task_id === id) meta.task_id = "<task id>";
      out[name] = { B: meta };
    } else out[name] = value;
  }
  return out;
}

describe.skipIf(!target.url)(`resultstore+dynamodb:// ${target.reason}`, () => {
  const table = `py${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const url = `${(target.url ?? "").replace(/\/+$/, "")}/${table}`;
  let store: ResultStore;
  let client: DynamoDBClient;

  beforeAll(async () => {
    await packageEnv();
    store = await createStore(url, { backends: [dynamodb] });
    await store.getMeta("warm-up"); // the Node store creates the table (TTL on `ttl`) first
    // DynamoDB Local, as the services run it: dynamodb://key:secret@127.0.0.1:port
    const parsed = new URL(url);
    client = new DynamoDBClient({
      credentials: { accessKeyId: parsed.username, secretAccessKey: parsed.password },
      endpoint: `http://${parsed.host}`,
      region: "us-east-1",
    });
  });
  afterAll(async () => {
    await (store?.backend as { destroy?: () => Promise<void> })?.destroy?.().catch(() => {});
    await store?.close();
    client?.destroy();
  });

  parityTests({
    store: () => store,
    python: () => ({ url, settings: { result_extended: true } }),
    stock: () => ({ url }),
    raw: async (id) => {
      const { Item } = await client.send(
        new GetItemCommand({
          TableName: table,
          Key: { id: { S: `b'celery-task-meta-${id}'` } },
          ConsistentRead: true,
        }),
      );
      return Item ? normalized(Item, id) : null;
    },
  });
});
