// Cassandra: resultstore-celery's CassandraBackend against @resultstore/backend-cassandra in the
// same keyspace and table: every row of the task's partition, column by column (blobs as text).
import { randomUUID } from "node:crypto";
import * as cassandraBackend from "@resultstore/backend-cassandra";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import cassandra from "cassandra-driver";
import { afterAll, beforeAll, describe } from "vitest";
import { packageEnv } from "./env.js";
import { parityTests } from "./parity.js";

const target = serverTarget("CASSANDRA");

describe.skipIf(!target.url)(`resultstore+cassandra:// ${target.reason}`, () => {
  const ns = `py${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const base = (target.url ?? "").replace(/\/+$/, "");
  let store: ResultStore;
  let client: cassandra.Client;

  beforeAll(async () => {
    await packageEnv();
    // Our namespace is a keyspace of its own, with Celery's table name inside.
    store = await createStore({
      url: base,
      backends: [cassandraBackend],
      backendOptions: { namespace: ns },
    });
    await store.markQueued(`warm-up-${randomUUID()}`); // the Node store creates keyspace and tables
    const { hostname, port } = new URL(base.replace(/^cassandra:/, "http:"));
    client = new cassandra.Client({
      contactPoints: [`${hostname}:${port || 9042}`],
      localDataCenter: "datacenter1",
    });
  }, 120_000);
  afterAll(async () => {
    await (store?.backend as { destroy?: () => Promise<void> })?.destroy?.().catch(() => {});
    await store?.close();
    await client?.shutdown();
  });

  parityTests({
    store: () => store,
    python: () => ({ url: `${base}/${ns}`, settings: { result_extended: true } }),
    stock: () => ({
      url: base,
      settings: { cassandra_keyspace: ns, cassandra_table: "celery_taskmeta" },
    }),
    raw: async (id) => {
      const { rows } = await client.execute(
        `SELECT * FROM "${ns}".celery_taskmeta WHERE task_id = ?`,
        [id],
        { prepare: true },
      );
      if (rows.length === 0) return null;
      return rows.map((row) => {
        const out: Record<string, unknown> = {};
        for (const column of row.keys()) {
          const value = row.get(column);
          if (column === "task_id") continue;
          if (column === "date_done" || column === "rs_expires_at" || column === "rs_updated_at")
            out[column] = value instanceof Date ? "<date>" : value;
          // A fresh random guard token per write: its presence is what both sides must match.
          else if (column === "rs_token") out[column] = value ? "<token>" : value;
          else if (column === "rs_meta") {
            const meta = value ? JSON.parse(value.toString("utf8")) : value;
            if (meta?.write_id) meta.write_id = "<write id>";
            out[column] = meta;
          } else if (Buffer.isBuffer(value)) out[column] = value.toString("utf8");
          else out[column] = value;
        }
        return out;
      });
    },
  });
});
