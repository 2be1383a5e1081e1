import assert from "node:assert/strict";
import { assertPersisted, defineGroup, id } from "./context.js";

/** Metadata merges key by key and survives every later write. */
export const metadataTests = defineGroup("metadata", (ctx, api, options) => {
  const t = options.timeoutMs;
  api.it(
    "metadata written at QUEUED survives STARTED, RETRY and SUCCESS",
    async () => {
      const taskId = id();
      const metadata = { tenant: "acme", attempt: 1, tags: ["a", "b"], nested: { deep: true } };
      const s = ctx.store();
      await s.markQueued(taskId, {
        metadata,
        name: "tasks.send",
        args: [1],
        kwargs: { to: "x" },
        queue: "mail",
      });
      await assertPersisted(ctx, taskId, { status: "QUEUED", metadata });
      await s.markStarted(taskId);
      await assertPersisted(ctx, taskId, { status: "STARTED", metadata });
      await s.markRetry(taskId, new Error("try again"));
      await assertPersisted(ctx, taskId, { status: "RETRY", metadata });
      await s.markStarted(taskId);
      await s.markSuccess(taskId, "sent");
      await assertPersisted(ctx, taskId, { status: "SUCCESS", metadata });
      const meta = await s.getMeta(taskId);
      assert.equal(meta.name, "tasks.send", "extended fields from QUEUED survive too");
      assert.deepEqual(meta.kwargs, { to: "x" });
      assert.equal(meta.queue, "mail");
    },
    t,
  );
  api.it(
    "a later write merges metadata key by key",
    async () => {
      const taskId = id();
      await ctx.store().markQueued(taskId, { metadata: { tenant: "acme", n: 1 } });
      await ctx.store().markSuccess(taskId, 1, { metadata: { n: 2, extra: true } });
      await assertPersisted(ctx, taskId, {
        status: "SUCCESS",
        metadata: { tenant: "acme", n: 2, extra: true },
      });
    },
    t,
  );
  api.it(
    "metadata named like reserved fields stays inside metadata",
    async () => {
      const taskId = id();
      const metadata = {
        status: "SUCCESS",
        result: "forged",
        task_id: "other",
        _id: "x",
        id: "y",
        date_done: 1,
        ttl: 0,
        value: "v",
      };
      await ctx.store().markQueued(taskId, { metadata });
      const meta = await ctx.store().getMeta(taskId);
      assert.equal(meta.status, "QUEUED");
      assert.equal(meta.result, null);
      assert.equal(meta.taskId, taskId);
      assert.deepEqual(meta.metadata, metadata);
      await assertPersisted(ctx, taskId, { status: "QUEUED", metadata });
    },
    t,
  );
  api.it(
    "a refused write changes no metadata",
    async () => {
      const taskId = id();
      await ctx.store().markSuccess(taskId, 1, { metadata: { kept: true } });
      const outcome = await ctx
        .store()
        .markStarted(taskId, undefined, { metadata: { kept: false, added: 1 } });
      assert.equal(outcome.applied, false);
      await assertPersisted(ctx, taskId, { status: "SUCCESS", metadata: { kept: true } });
    },
    t,
  );
});
