// Celery's own Cassandra backend (Python, through @resultstore/celery-interop) and ours on one
// table, both ways: what Celery stores reads back through getMeta, what we store reads back
// through Celery's get_task_meta as Celery would have written it.
import { randomUUID } from "node:crypto";
import {
  celeryPeer,
  ensureCeleryEnv,
  type Json,
  type ReadResult,
} from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromUrl } from "../src/index.js";
import { dropKeyspace, KEYSPACE, rawClient } from "./helpers.js";

const target = serverTarget("CASSANDRA");

const NESTED = {
  answer: 42,
  ratio: 2.5,
  text: "héllo ✓ 😀",
  flags: [true, false, null],
  nested: { list: [1, [2, [3, { deep: "yes" }]]], empty: {} },
};
const TRACEBACK =
  'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\n    raise ValueError("boom")\nValueError: boom\n';
const REQUEST = {
  name: "tasks.add",
  args: [40, 2],
  kwargs: { z: 1 },
  hostname: "celery@host",
  retries: 1,
  delivery_info: { routing_key: "celery" },
  children: ["child-1"],
};

describe.skipIf(!target.url)(`cassandra interop with Celery ${target.reason}`, () => {
  const url = target.url as string;
  // Celery creates this table itself (plain CREATE TABLE, no static columns); ours adds its columns.
  const table = `celery_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const settings = {
    cassandra_keyspace: KEYSPACE,
    cassandra_table: table,
    cassandra_entry_ttl: 86_400,
  };
  const peer = (ops: Parameters<typeof celeryPeer>[0]["ops"], extra: Record<string, Json> = {}) =>
    celeryPeer({ url, settings: { ...settings, ...extra }, ops });
  let store: ResultStore;

  beforeAll(async () => {
    await ensureCeleryEnv();
    await rawClient(url);
    store = new ResultStore(fromUrl(url, { keyspace: KEYSPACE, table }));
  }, 600_000);
  afterAll(async () => {
    await store?.close();
    await dropKeyspace();
  });

  it("reads what Celery stored: SUCCESS with nested JSON, FAILURE with traceback, an extended record", async () => {
    const [ok, failed, extended] = [randomUUID(), randomUUID(), randomUUID()];
    await peer([
      {
        op: "store",
        task_id: ok,
        state: "SUCCESS",
        result: NESTED,
        request: { children: ["c-1", "c-2"] },
      },
      {
        op: "store",
        task_id: failed,
        state: "FAILURE",
        exception: { type: "ValueError", args: ["boom"] },
        traceback: TRACEBACK,
      },
    ]);
    await peer(
      [{ op: "store", task_id: extended, state: "SUCCESS", result: [1, 2], request: REQUEST }],
      { result_extended: true },
    );
    const celery = (
      await peer([ok, failed, extended].map((task_id) => ({ op: "read" as const, task_id })))
    ).results as unknown as ReadResult[];

    for (const [i, taskId] of [ok, failed, extended].entries()) {
      const theirs = celery[i] as ReadResult;
      const ours = await store.getMeta(taskId);
      expect(ours.status).toBe(theirs.status);
      expect(ours.result).toEqual(theirs.result);
      expect(ours.traceback).toBe(theirs.traceback ?? null);
      expect(ours.children).toEqual(theirs.children);
      expect(ours.dateDone?.getTime()).toBe(new Date(theirs.date_done as string).getTime());
      expect(ours.metadata).toEqual({});
    }
    const failure = await store.getMeta(failed);
    expect(failure.result).toEqual({
      exc_type: "ValueError",
      exc_message: ["boom"],
      exc_module: "builtins",
    });
    expect(failure.traceback).toBe(TRACEBACK);
    expect((await store.getMeta(ok)).children).toEqual([
      [["c-1", null], null],
      [["c-2", null], null],
    ]);
    // Celery's rows carry USING TTL cassandra_entry_ttl; without our column the expiry comes from it.
    const record = await store.backend.read(ok);
    expect(Math.abs((record?.expiresAt?.getTime() ?? 0) - (Date.now() + 86_400_000))).toBeLessThan(
      60_000,
    );
  });

  it("Celery reads what we stored: QUEUED with metadata, then STARTED, then SUCCESS", async () => {
    const taskId = randomUUID();
    const read = async () =>
      (await peer([{ op: "read", task_id: taskId }])).results[0] as unknown as ReadResult;

    await store.markQueued(taskId, {
      metadata: { tenant: "acme" },
      name: "tasks.send",
      args: [1],
      kwargs: { to: "x" },
    });
    expect((await read()).status).toBe("QUEUED");
    await store.markStarted(taskId, { pid: 7, hostname: "node-1" });
    const started = await read();
    expect(started.status).toBe("STARTED");
    expect(started.result).toEqual({ pid: 7, hostname: "node-1" });
    await store.markSuccess(taskId, NESTED, { children: [[["child-1", null], null]] });

    const celery = await read();
    const ours = await store.getMeta(taskId);
    expect(celery.status).toBe("SUCCESS");
    expect(celery.result).toEqual(NESTED);
    expect(celery.traceback ?? null).toBeNull();
    expect(celery.children).toEqual([[["child-1", null], null]]);
    expect(celery.date_done_type).toBe("datetime");
    expect(new Date(celery.date_done as string).getTime()).toBe(ours.dateDone?.getTime());
    expect(celery.async_result.state).toBe("SUCCESS");
    expect(ours.metadata).toEqual({ tenant: "acme" });
    expect(ours.name).toBe("tasks.send");

    // One row per task: each write replaced the row before it, and its TTL is Celery's kind.
    const raw = (await peer([{ op: "raw", task_id: taskId }])).results[0] as {
      rows: { status: string; result: unknown }[];
    };
    expect(raw.rows.map((row) => row.status)).toEqual(["SUCCESS"]);
  });

  it("Celery reads our FAILURE as the exception it names", async () => {
    const taskId = randomUUID();
    await store.markFailure(taskId, new TypeError("bad input"), { traceback: TRACEBACK });
    const celery = (await peer([{ op: "read", task_id: taskId }]))
      .results[0] as unknown as ReadResult;
    expect(celery.status).toBe("FAILURE");
    expect(celery.traceback).toBe(TRACEBACK);
    expect(celery.result).toMatchObject({ exc_type: "TypeError" });
    expect(celery.async_result.state).toBe("FAILURE");
  });

  it("a late Celery write after ours wins on Celery's read and ours (newest row), metadata kept", async () => {
    const taskId = randomUUID();
    await store.markQueued(taskId, { metadata: { tenant: "acme" } });
    await peer([{ op: "store", task_id: taskId, state: "SUCCESS", result: 5 }]);
    const meta = await store.getMeta(taskId);
    expect(meta.status).toBe("SUCCESS");
    expect(meta.result).toBe(5);
    expect(meta.metadata).toEqual({ tenant: "acme" });
    // …and our state rules see Celery's SUCCESS: a late STARTED is refused.
    expect((await store.markStarted(taskId)).applied).toBe(false);
  });
});
