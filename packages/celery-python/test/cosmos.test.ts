// Cosmos DB (the local @vercel/cosmosdb-server): resultstore-celery's CosmosDBSQLBackend against
// @resultstore/backend-cosmos in the same container, document field by field (`value` compared as
// the JSON Celery reads).

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import * as cosmos from "@resultstore/backend-cosmos";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe } from "vitest";
import { packageEnv } from "./env.js";
import { parityTests } from "./parity.js";

const target = serverTarget("COSMOS");
/** Cosmos DB's own properties, which differ per write. */
const SYSTEM = ["_rid", "_self", "_etag", "_attachments", "_ts"];

describe.skipIf(!target.url)(`resultstore+cosmosdbsql:// ${target.reason}`, () => {
  const ns = `py${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  let store: ResultStore;
  let container: string;

  beforeAll(async () => {
    await packageEnv();
    const caFile = process.env.RESULTSTORE_COSMOS_CA;
    store = await createStore({
      url: target.url as string,
      backends: [cosmos],
      backendOptions: { namespace: ns, ...(caFile ? { ca: readFileSync(caFile) } : {}) },
    });
    await store.getMeta("warm-up"); // the Node store creates the container (default TTL on) first
    container = (store.backend as unknown as { containerName: string }).containerName;
  });
  afterAll(async () => {
    await (store?.backend as { destroy?: () => Promise<void> })?.destroy?.().catch(() => {});
    await store?.close();
  });

  parityTests({
    store: () => store,
    python: () => ({
      url: target.url as string,
      settings: { result_extended: true, cosmosdbsql_collection_name: container },
    }),
    stock: () => ({
      url: target.url as string,
      settings: { cosmosdbsql_collection_name: container },
    }),
    raw: async (id) => {
      const backend = store.backend as unknown as {
        connection: {
          get(): Promise<{
            item(
              id: string,
              pk: string,
            ): { read(): Promise<{ resource?: Record<string, unknown> }> };
          }>;
        };
      };
      const key = `celery-task-meta-${id}`;
      const { resource } = await (await backend.connection.get()).item(key, key).read();
      if (!resource) return null;
      const doc: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(resource)) {
        if (SYSTEM.includes(field) || field === "id") continue;
        if (field === "value" && typeof value === "string") {
          const meta = JSON.parse(value);
          if (meta.date_done) meta.date_done = "<date>";
          if (meta.task_id === id) meta.task_id = "<task id>";
          doc[field] = meta;
        } else if (
          ["expires_at", "updated_at", "ttl", "write_id"].includes(field) &&
          value !== null &&
          value !== -1
        )
          doc[field] = `<${field}: ${typeof value}>`;
        else doc[field] = value;
      }
      return doc;
    },
  });
});
