// What the Cosmos store keeps apart, against the real server: the versions it remembers from the
// objects its callers hold (issue 28, item 1), and counters and sets from task documents (item 8).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ResultStore } from "@resultstore/core";
import { afterAll, describe, it } from "vitest";
import type { CosmosBackend } from "../src/index.js";
import { openedBackends, readDocument, target } from "./helpers.js";

describe.skipIf(!target.url)(`cosmos isolation ${target.reason}`, () => {
  const { open } = openedBackends(afterAll);
  const taskDocument = (b: CosmosBackend, taskId: string) =>
    readDocument(b, `celery-task-meta-${taskId}`);

  it("a change the caller makes to what getMeta returned is never written by the next write", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    await store.markQueued(taskId, { metadata: { tenant: "acme", tags: ["a"] } });
    const meta = await store.getMeta(taskId); // the version this read saw is remembered
    meta.metadata.tenant = "mallory";
    (meta.metadata.tags as string[]).push("b");
    meta.metadata.added = true;
    assert.equal((await store.markStarted(taskId)).applied, true); // one replace, from memory
    const doc = await taskDocument(b, taskId);
    assert.deepEqual(doc?.metadata, { tenant: "acme", tags: ["a"] });
    assert.deepEqual((await store.getMeta(taskId)).metadata, { tenant: "acme", tags: ["a"] });
  });

  it("nested values a write carried (metadata, args, kwargs, children) are not read again after it", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    const metadata = { nested: { n: 1 } };
    const args = [{ a: 1 }];
    const kwargs = { k: { v: 1 } };
    const children: unknown[] = [[["child", null], null]];
    await store.markQueued(taskId, { metadata, args, kwargs });
    await store.storeResult(taskId, null, "PROGRESS", { children });
    metadata.nested.n = 2;
    (args[0] as { a: number }).a = 2;
    kwargs.k.v = 2;
    (children[0] as unknown[])[1] = "changed";
    assert.equal((await store.markStarted(taskId)).applied, true);
    const doc = await taskDocument(b, taskId);
    assert.deepEqual(doc?.metadata, { nested: { n: 1 } });
    const value = JSON.parse(doc?.value as string);
    assert.deepEqual([value.args, value.kwargs], [[{ a: 1 }], { k: { v: 1 } }]);
    assert.deepEqual(value.children, [[["child", null], null]]);
  });

  it("counters and sets have documents of their own: incr on a task's own key leaves the task alone", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    await store.markSuccess(taskId, "kept", { metadata: { k: "v" } });
    const before = await taskDocument(b, taskId);
    const longer = new ResultStore(b, { expires: 7 * 86_400 });
    const week = new Date(Date.now() + 7 * 86_400_000);
    // Core refuses such counter keys; the backend keeps them apart all the same, for a caller
    // that uses it directly.
    await assert.rejects(longer.incr(`celery-task-meta-${taskId}`), /names task and group/);
    const incr = (key: string, by = 1) => b.incr(key, by, week);
    // The ids a task's and a group's documents have, as counter keys and as set keys.
    assert.equal(await incr(`celery-task-meta-${taskId}`, 5), 5);
    assert.equal(await incr(`celery-taskset-meta-${taskId}`), 1);
    assert.deepEqual(await taskDocument(b, taskId), before);
    assert.equal(await b.addToSet(`celery-task-meta-${taskId}`, "m", week), 1);
    assert.deepEqual(await taskDocument(b, taskId), before);
    assert.equal((await store.getMeta(taskId)).result, "kept");
    // Each of these is its own counter, and a set of the same key is apart from them all.
    assert.equal(await incr(`resultstore-counter-celery-task-meta-${taskId}`), 1);
    assert.equal(await incr(`celery-task-meta-${taskId}`), 6);
    assert.equal(await b.addToSet(`resultstore-set-${taskId}`, "m", week), 1);
    assert.equal(await longer.incr(`resultstore-set-${taskId}`), 1);
    // A counter whose key no task or group can have is stored under that key, as before.
    await store.incr(`chord-unlock-${taskId}`, 2);
    assert.equal((await readDocument(b, `chord-unlock-${taskId}`))?.count, 2);
  });
});
