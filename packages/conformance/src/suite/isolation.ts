import assert from "node:assert/strict";
import type { ResultStore } from "@resultstore/core";
import { assertPersisted, type Ctx, defineGroup, id } from "./context.js";

/** A task's fields that nest, as a write passes them and a read returns them. */
const nested = () => ({
  metadata: { tenant: "acme", deep: { k: [1, { z: 1 }] } },
  args: [1, { x: [1] }] as unknown[],
  kwargs: { a: { b: [1] } },
  children: [[["child", null], null]] as unknown[],
});
type Nested = ReturnType<typeof nested>;

/** Changes every nested value of `fields` in place, at the top and deeper down. */
function mutate(fields: Nested): void {
  fields.metadata.tenant = "mutated";
  (fields.metadata as Record<string, unknown>).added = true;
  fields.metadata.deep.k.push(2);
  (fields.metadata.deep.k[1] as { z: number }).z = 2;
  fields.args.push("more");
  (fields.args[1] as { x: number[] }).x.push(2);
  fields.kwargs.a.b.push(2);
  fields.children.push("more");
  ((fields.children[0] as unknown[])[0] as unknown[])[0] = "other";
}

/** What a reader of `taskId` sees, and what the database holds, equal `nested()` and `status`. */
async function assertUnchanged(ctx: Ctx, store: ResultStore, taskId: string, status: string) {
  const expected = nested();
  await assertPersisted(ctx, taskId, { status, metadata: expected.metadata });
  const meta = await store.getMeta(taskId);
  assert.deepEqual(
    [meta.args, meta.kwargs, meta.children],
    [expected.args, expected.kwargs, expected.children],
    "args, kwargs and children as written",
  );
}

/**
 * What a caller holds is the caller's: changing a value it passed to a write, or a value a read
 * returned, changes nothing stored, also through the next write (a backend that caches what it
 * saw must not share those objects with the caller).
 */
export const isolationTests = defineGroup("isolation", (ctx, api, options) => {
  api.it(
    "a change to values passed to a write is never written by a later write",
    async () => {
      const store = ctx.store();
      const taskId = id("passed");
      const fields = nested();
      await store.storeResult(taskId, null, "PROGRESS", {
        metadata: fields.metadata,
        request: { args: fields.args, kwargs: fields.kwargs },
        children: fields.children,
      });
      mutate(fields);
      await store.markStarted(taskId); // carries none of those fields: the stored ones stay
      await assertUnchanged(ctx, store, taskId, "STARTED");
    },
    options.timeoutMs,
  );
  api.it(
    "a change to what getMeta returned is never written by a later write",
    async () => {
      const store = ctx.store();
      const taskId = id("returned");
      const fields = nested();
      await store.storeResult(taskId, null, "PROGRESS", {
        metadata: fields.metadata,
        request: { args: fields.args, kwargs: fields.kwargs },
        children: fields.children,
      });
      const meta = await store.getMeta(taskId);
      mutate(meta as unknown as Nested);
      const [many] = await store.getMany([taskId]);
      mutate(many as unknown as Nested);
      await store.markStarted(taskId);
      await assertUnchanged(ctx, store, taskId, "STARTED");
      // A read after a write of our own, then a write that merges metadata.
      mutate((await store.getMeta(taskId)) as unknown as Nested);
      await store.storeResult(taskId, null, "PROGRESS", { metadata: { step: 2 } });
      const after = await store.getMeta(taskId);
      assert.deepEqual(after.metadata, { ...nested().metadata, step: 2 });
      assert.deepEqual(after.args, nested().args);
    },
    options.timeoutMs,
  );
});
