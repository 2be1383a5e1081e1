import assert from "node:assert/strict";
import { defineGroup, id, sleep } from "./context.js";

/** Expired records are never returned, and cleanup removes them. */
export const expiryTests = defineGroup("expiry", (ctx, api, options) => {
  const seconds = options.minExpirySeconds ?? 1;
  api.it(
    "an expired record is hidden on read and removed by cleanup",
    async () => {
      const store = await options.createStore({ expires: seconds });
      try {
        const [expiring, group] = [id("exp"), id("gexp")];
        await store.markSuccess(expiring, "soon gone", { metadata: { m: 1 } });
        await store.saveGroup(group, [expiring]);
        if (options.readRaw) {
          const record = await options.readRaw(store, expiring);
          assert.ok(record?.expiresAt, "the database holds an expiry for the record");
          assert.ok(Math.abs(record.expiresAt.getTime() - (Date.now() + seconds * 1000)) < 30_000);
        }
        assert.equal((await store.getMeta(expiring)).status, "SUCCESS");
        await sleep(seconds * 1000 + 1200);
        assert.equal((await store.getMeta(expiring)).status, "PENDING", "hidden once expired");
        assert.equal(await store.restoreGroup(group), null, "expired groups are hidden too");
        const removed = await store.cleanup();
        assert.ok(removed >= 0);
        if (options.readRaw)
          assert.equal(await options.readRaw(store, expiring), null, "cleanup removed it");
      } finally {
        await store.backend.destroy?.();
        await store.close();
      }
    },
    seconds * 1000 + 60_000,
  );
  api.it(
    "cleanup leaves live records alone",
    async () => {
      const taskId = id();
      await ctx.store().markSuccess(taskId, "stays");
      await ctx.store().cleanup();
      assert.equal((await ctx.store().getMeta(taskId)).result, "stays");
    },
    options.timeoutMs,
  );
  api.it(
    "a store with expires: null keeps records without expiry",
    async () => {
      const store = await options.createStore({ expires: null });
      try {
        const taskId = id();
        await store.markSuccess(taskId, 1);
        if (options.readRaw) assert.equal((await options.readRaw(store, taskId))?.expiresAt, null);
        assert.equal((await store.getMeta(taskId)).status, "SUCCESS");
      } finally {
        await store.backend.destroy?.();
        await store.close();
      }
    },
    options.timeoutMs,
  );
});
