// Elasticsearch: resultstore-celery's ElasticsearchBackend against @resultstore/backend-elasticsearch
// in the same index, `_source` field by field (`result`, Celery's meta text, compared as JSON).
import { randomUUID } from "node:crypto";
import * as elasticsearch from "@resultstore/backend-elasticsearch";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageEnv, pythonDriver } from "./env.js";
import { parityTests } from "./parity.js";

const target = serverTarget("ELASTICSEARCH");

describe.skipIf(!target.url)(`resultstore+elasticsearch:// ${target.reason}`, () => {
  const index = `py${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const base = (target.url ?? "").replace(/\/+$/, "");
  const url = `${base}/${index}`;
  const http = base.replace(/^elasticsearch(\+https)?:/, (_, tls) => (tls ? "https:" : "http:"));
  let store: ResultStore;

  beforeAll(async () => {
    await packageEnv();
    store = await createStore(url, { backends: [elasticsearch] });
    await store.markQueued(`warm-up-${randomUUID()}`); // the Node store creates the index first
  });
  afterAll(async () => {
    await (store?.backend as { destroy?: () => Promise<void> })?.destroy?.().catch(() => {});
    await store?.close();
  });

  it("find matches metadata Python stored by the same typed terms as ours", async () => {
    const taskId = `p-${randomUUID()}`;
    // Strings (a long one: its digest), integers, floats, booleans: each found by its own term.
    const metadata = { s: "acme", i: 42, f: 42.5, b: false, zero: 0, long: "é".repeat(200) };
    await pythonDriver({
      url,
      ops: [{ op: "store", task_id: taskId, state: "SUCCESS", result: 1, metadata }],
    });
    for (const [key, value] of Object.entries(metadata)) {
      const found = await store.find({ metadata: { [key]: value } });
      expect(
        found.tasks.map((task) => task.taskId),
        key,
      ).toEqual([taskId]);
    }
    expect((await store.find({ metadata: { i: "42" } })).tasks).toEqual([]);
  });

  parityTests({
    store: () => store,
    python: () => ({ url, settings: { result_extended: true } }),
    stock: () => ({ url }),
    raw: async (id) => {
      const response = await fetch(`${http}/${index}/_doc/celery-task-meta-${id}?realtime=true`);
      if (response.status === 404) return null;
      const { _source: source } = (await response.json()) as { _source: Record<string, unknown> };
      const doc: Record<string, unknown> = { ...source };
      const meta = JSON.parse(source.result as string);
      if (meta.date_done) meta.date_done = "<date>";
      if (meta.task_id === id) meta.task_id = "<task id>";
      doc.result = meta;
      if (doc.task_id === id) doc.task_id = "<task id>";
      for (const field of ["@timestamp", "date_done", "expires_at"])
        if (typeof doc[field] === "string") doc[field] = `<${field}>`;
      doc.write_id = `<${(source.write_id as string[]).length} write ids>`;
      if (typeof doc.created_by === "string") doc.created_by = "<write id>";
      return doc;
    },
  });
});
