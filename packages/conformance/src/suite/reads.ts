import assert from "node:assert/strict";
import { assertPersisted, defineGroup, id } from "./context.js";

/** Reads: unknown ids, batches, forget. */
export const readTests = defineGroup("reads", (ctx, api, options) => {
  api.it(
    "getMany returns metas in order, PENDING for unknown ids",
    async () => {
      const ids = Array.from({ length: 5 }, () => id());
      await Promise.all(ids.slice(0, 4).map((taskId, i) => ctx.store().markSuccess(taskId, i)));
      const metas = await ctx.store().getMany(ids);
      assert.deepEqual(
        metas.map((m) => m.taskId),
        ids,
      );
      assert.deepEqual(
        metas.map((m) => m.result),
        [0, 1, 2, 3, null],
      );
      assert.equal(metas[4]?.status, "PENDING");
    },
    options.timeoutMs,
  );
  api.it(
    "getMany reads beyond one batch (130 ids)",
    async () => {
      const ids = Array.from({ length: 130 }, () => id());
      await Promise.all(ids.map((taskId) => ctx.store().markSuccess(taskId, taskId)));
      const metas = await ctx.store().getMany(ids);
      assert.deepEqual(
        metas.map((m) => m.result),
        ids,
      );
    },
    Math.max(options.timeoutMs ?? 60_000, 120_000),
  );
  api.it(
    "forget deletes the record",
    async () => {
      const taskId = id();
      await ctx.store().markSuccess(taskId, 1);
      await ctx.store().forget(taskId);
      await assertPersisted(ctx, taskId, null);
    },
    options.timeoutMs,
  );
});
