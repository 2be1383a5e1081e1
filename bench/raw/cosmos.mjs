// The raw @azure/cosmos driver's minimal native operations, in Celery's cosmosdbsql layout:
// an unguarded upsert of {id, value}, a point read, and an atomic patch `incr`.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import { createRequire } from "node:module";

// The driver is the backend package's dependency, not the root's.
const require = createRequire(
  new URL("../../packages/backend-cosmos/package.json", import.meta.url),
);
const { CosmosClient } = require("@azure/cosmos");

export async function createRaw(url, payload) {
  const parsed = new URL(url);
  const ca = process.env.RESULTSTORE_COSMOS_CA;
  const client = new CosmosClient({
    endpoint: `https://${parsed.host}`,
    key: decodeURIComponent(parsed.password),
    ...(ca ? { agent: new Agent({ ca: readFileSync(ca), keepAlive: true }) } : {}),
  });
  const { database } = await client.databases.createIfNotExists({ id: "celerydb" });
  const { container } = await database.containers.createIfNotExists({
    id: `celerycol_benchraw_${randomUUID().slice(0, 8)}`,
    partitionKey: { paths: ["/id"] },
  });
  const key = (id) => `celery-task-meta-${id}`;
  return {
    name: "@azure/cosmos",
    store: (id) =>
      container.items.upsert({
        id: key(id),
        value: JSON.stringify({
          status: "SUCCESS",
          result: payload,
          traceback: null,
          children: [],
          date_done: new Date().toISOString(),
          task_id: id,
        }),
      }),
    get: async (id) => JSON.parse((await container.item(key(id), key(id)).read()).resource.value),
    incr: async (counter) => {
      try {
        return (
          await container.item(counter, counter).patch([{ op: "incr", path: "/count", value: 1 }])
        ).resource.count;
      } catch (error) {
        if (error.code !== 404) throw error;
        await container.items.create({ id: counter, count: 0 }).catch((e) => {
          if (e.code !== 409) throw e;
        });
        return (
          await container.item(counter, counter).patch([{ op: "incr", path: "/count", value: 1 }])
        ).resource.count;
      }
    },
    close: async () => {
      await container.delete();
      client.dispose();
    },
  };
}
