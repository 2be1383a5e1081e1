// Consul: resultstore-celery's ConsulBackend against @resultstore/backend-consul under the same key
// prefix: the stored value (Celery's meta JSON with our metadata, expires_at, updated_at and
// write_id) key by key, and whether a session holds the key (its native expiry).
import { randomUUID } from "node:crypto";
import * as consul from "@resultstore/backend-consul";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe } from "vitest";
import { packageEnv } from "./env.js";
import { parityTests } from "./parity.js";

const target = serverTarget("CONSUL");

describe.skipIf(!target.url)(`resultstore+consul:// ${target.reason}`, () => {
  const prefix = `rs-py/c${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const base = (target.url ?? "").replace(/\/+$/, "");
  const url = `${base}/${prefix}`;
  const http = base.replace(/^consul:/, "http:");
  let store: ResultStore;

  beforeAll(async () => {
    await packageEnv();
    store = await createStore(url, { backends: [consul] });
  });
  afterAll(async () => {
    await (store?.backend as { destroy?: () => Promise<void> })?.destroy?.().catch(() => {});
    await store?.close();
  });

  parityTests({
    store: () => store,
    python: () => ({ url, settings: { result_extended: true } }),
    stock: () => ({ url }),
    raw: async (id) => {
      const response = await fetch(`${http}/v1/kv/${prefix}/celery-task-meta-${id}`);
      if (response.status === 404) return null;
      const [entry] = (await response.json()) as {
        Value: string;
        Session?: string;
        Flags: number;
      }[];
      const value = JSON.parse(Buffer.from(entry?.Value ?? "", "base64").toString("utf8"));
      for (const field of ["date_done", "expires_at", "updated_at", "write_id"])
        if (typeof value[field] === "string") value[field] = `<${field}>`;
      if (value.task_id === id) value.task_id = "<task id>";
      return { value, locked: Boolean(entry?.Session), flags: entry?.Flags };
    },
  });
});
