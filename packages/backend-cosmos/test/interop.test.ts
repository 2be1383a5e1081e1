// Interop both ways with Celery's own cosmosdbsql backend (Python, through @resultstore/celery-interop).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  celeryPeer,
  ensureCeleryEnv,
  type PeerRequest,
  type ReadResult,
} from "@resultstore/celery-interop";
import { parseCeleryDate, ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { CosmosBackend } from "../src/index.js";
import { backend, readDocument, target } from "./helpers.js";

const NESTED = {
  answer: 42,
  ratio: 2.5,
  text: "héllo ✓ 😀",
  flags: [true, false, null],
  nested: { list: [1, [2, [3, { deep: "yes" }]]], empty: {} },
};
const TRACEBACK =
  'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\nValueError: boom\n';

describe.skipIf(!target.url)(`cosmos interop with Celery ${target.reason}`, () => {
  let cosmos: CosmosBackend;
  let store: ResultStore;
  const peer = (
    ops: PeerRequest["ops"],
    settings: PeerRequest["settings"] = {},
    allowErrors = false,
  ) =>
    celeryPeer(
      {
        url: target.url as string,
        // Celery's settings pointing at this test's container (database celerydb, Celery's default).
        settings: { cosmosdbsql_collection_name: cosmos.containerName, ...settings },
        ops,
        allowErrors,
      },
      { timeoutMs: 180_000 },
    );

  beforeAll(async () => {
    await ensureCeleryEnv({ log: (line) => console.error(`[celery-venv] ${line}`) });
    cosmos = backend();
    store = new ResultStore(cosmos);
  }, 15 * 60_000);
  afterAll(async () => {
    await cosmos?.destroy();
    await store?.close();
  });

  it("reads Celery's SUCCESS, FAILURE and result_extended records through getMeta", async () => {
    const [ok, failed, extended, child] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const request = {
      name: "tasks.add",
      args: [40, 2],
      kwargs: { z: 1 },
      hostname: "celery@host",
      retries: 1,
      delivery_info: { routing_key: "celery" },
      children: [child],
    };
    const answer = await peer(
      [
        { op: "store", task_id: ok, state: "SUCCESS", result: NESTED },
        {
          op: "store",
          task_id: failed,
          state: "FAILURE",
          exception: { type: "ValueError", args: ["boom"] },
          traceback: TRACEBACK,
        },
        { op: "store", task_id: extended, state: "SUCCESS", result: 42, request },
        { op: "read", task_id: ok },
        { op: "read", task_id: failed },
        { op: "read", task_id: extended },
      ],
      { result_extended: true },
    );
    const reads = answer.results.slice(3) as ReadResult[];
    for (const [i, taskId] of [ok, failed, extended].entries()) {
      const celery = reads[i] as ReadResult;
      const meta = await store.getMeta(taskId);
      assert.equal(meta.status, celery.status);
      assert.equal(meta.traceback, celery.traceback ?? null);
      assert.deepEqual(meta.children, celery.children ?? null);
      const raw = await readDocument(cosmos, `celery-task-meta-${taskId}`);
      const storedDate = parseCeleryDate(JSON.parse(raw?.value as string).date_done);
      assert.equal(
        meta.dateDone?.getTime(),
        storedDate?.getTime(),
        "date_done as Celery stored it",
      );
      assert.ok(
        Math.abs((meta.dateDone?.getTime() ?? 0) - Date.parse(celery.date_done as string)) < 1,
      );
    }
    assert.deepEqual((await store.getMeta(ok)).result, NESTED);
    assert.deepEqual((await store.getMeta(failed)).result, {
      exc_type: "ValueError",
      exc_message: ["boom"],
      exc_module: "builtins",
    });
    const meta = await store.getMeta(extended);
    assert.deepEqual(
      {
        name: meta.name,
        args: meta.args,
        kwargs: meta.kwargs,
        worker: meta.worker,
        retries: meta.retries,
        queue: meta.queue,
      },
      {
        name: "tasks.add",
        args: [40, 2],
        kwargs: { z: 1 },
        worker: "celery@host",
        retries: 1,
        queue: "celery",
      },
    );
    assert.deepEqual(meta.children, [[[child, null], null]]);
  }, 240_000);

  it("Celery's get_task_meta reads what we write at QUEUED, STARTED and SUCCESS", async () => {
    const taskId = randomUUID();
    const seen: ReadResult[] = [];
    await store.markQueued(taskId, {
      metadata: { tenant: "acme" },
      name: "tasks.send",
      args: [1],
      kwargs: { to: "x" },
      queue: "mail",
    });
    seen.push((await peer([{ op: "read", task_id: taskId }])).results[0] as ReadResult);
    await store.markStarted(taskId, { pid: 7, hostname: "worker-1" });
    seen.push((await peer([{ op: "read", task_id: taskId }])).results[0] as ReadResult);
    await store.markSuccess(taskId, NESTED);
    const answer = await peer(
      [
        { op: "read", task_id: taskId },
        { op: "raw", task_id: taskId },
      ],
      { result_extended: true },
    );
    seen.push(answer.results[0] as ReadResult);
    assert.deepEqual(
      seen.map((r) => r.status),
      ["QUEUED", "STARTED", "SUCCESS"],
    );
    assert.deepEqual(seen[1]?.result, { pid: 7, hostname: "worker-1" });
    const done = seen[2] as ReadResult;
    assert.deepEqual(done.result, NESTED);
    assert.equal(done.async_result.state, "SUCCESS");
    assert.equal(done.async_result.date_done_type, "datetime");
    assert.equal(done.task_id, taskId);
    assert.deepEqual(
      [done.name, done.args, done.kwargs, done.queue],
      ["tasks.send", [1], { to: "x" }, "mail"],
    );
    // The document is Celery's shape: `value` holds the meta JSON string, keys in Celery's order.
    const document = (answer.results[1] as { document: Record<string, unknown> }).document;
    assert.equal(document.id, `celery-task-meta-${taskId}`);
    const value = JSON.parse(document.value as string);
    assert.deepEqual(Object.keys(value), [
      "status",
      "result",
      "traceback",
      "children",
      "date_done",
      "name",
      "args",
      "kwargs",
      "worker",
      "retries",
      "queue",
      "task_id",
    ]);
    assert.deepEqual(document.metadata, { tenant: "acme" }, "our metadata sits beside value");
  }, 240_000);

  it("Celery's backend creates documents, so its second write to a task fails with 409; ours applies", async () => {
    const taskId = randomUUID();
    const answer = await peer(
      [
        { op: "store", task_id: taskId, state: "STARTED", result: { pid: 1, hostname: "h" } },
        { op: "store", task_id: taskId, state: "SUCCESS", result: 1 },
        { op: "read", task_id: taskId },
      ],
      {},
      true,
    );
    const second = answer.results[1] as { error?: { status_code?: number } };
    assert.equal(
      second.error?.status_code,
      409,
      "Celery's CreateDocument conflicts on the second write",
    );
    assert.equal((answer.results[2] as ReadResult).status, "STARTED");
    // Our store finishes what Celery started, under the state rules.
    assert.equal((await store.markSuccess(taskId, 1)).applied, true);
    assert.equal(
      ((await peer([{ op: "read", task_id: taskId }])).results[0] as ReadResult).status,
      "SUCCESS",
    );
  }, 240_000);
});
