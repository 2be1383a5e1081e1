import assert from "node:assert/strict";
import { isReady } from "@resultstore/core";
import { assertPersisted, defineGroup, id } from "./context.js";

/** Every state round-trips, with Celery's STARTED payload. */
export const statesTests = defineGroup("states", (ctx, api, options) => {
  const t = options.timeoutMs;
  api.it(
    "unknown ids read as PENDING with a null result",
    async () => {
      const meta = await ctx.store().getMeta(id());
      assert.equal(meta.status, "PENDING");
      assert.equal(meta.result, null);
      assert.equal(meta.dateDone, null);
    },
    t,
  );
  for (const state of ["QUEUED", "STARTED", "RETRY", "PROGRESS", "SUCCESS", "FAILURE", "REVOKED"]) {
    api.it(
      `round-trips ${state}`,
      async () => {
        const taskId = id();
        const before = Date.now();
        const outcome = await ctx.store().storeResult(taskId, { step: state }, state);
        assert.equal(outcome.applied, true);
        const meta = await ctx.store().getMeta(taskId);
        assert.equal(meta.status, state);
        if (isReady(state)) {
          assert.ok(meta.dateDone instanceof Date, "ready states carry date_done");
          assert.ok(Math.abs(meta.dateDone.getTime() - before) < 60_000, "date_done is now");
        } else {
          assert.equal(meta.dateDone, null, "unready states have no date_done");
        }
        await assertPersisted(ctx, taskId, { status: state });
      },
      t,
    );
  }
  api.it(
    "STARTED carries Celery's {pid, hostname} by default",
    async () => {
      const taskId = id();
      await ctx.store().markStarted(taskId);
      const meta = await ctx.store().getMeta(taskId);
      assert.equal(typeof (meta.result as { pid: number }).pid, "number");
      assert.equal(typeof (meta.result as { hostname: string }).hostname, "string");
    },
    t,
  );
});
