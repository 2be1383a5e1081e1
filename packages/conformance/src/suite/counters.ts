import assert from "node:assert/strict";
import { InvalidIdError } from "@resultstore/core";
import { defineGroup, id, raw, sleep, withPeers } from "./context.js";

/** `incr` is atomic under concurrency and expires. */
export const counterTests = defineGroup("counters", (ctx, api, options) => {
  const width = options.concurrency ?? 32;
  api.it(
    `${width} concurrent increments return exactly 1..${width}`,
    async () => {
      const key = id("counter");
      const values = await Promise.all(Array.from({ length: width }, () => ctx.store().incr(key)));
      assert.deepEqual(
        [...values].sort((a, b) => a - b),
        Array.from({ length: width }, (_, i) => i + 1),
      );
    },
    options.timeoutMs,
  );
  api.it(
    "32 increments from 8 stores at once on one counter: exact values 1..32, none unknown",
    async () => {
      // Eight processes counting four chord members each, one after another, all at once: a
      // process may lose many rounds in a row while the others count past it, yet there is no
      // fault, so every call answers, and the values are exactly 1..32.
      const key = id("shared-counter");
      await withPeers(ctx, 7, async (peers) => {
        const stores = [ctx.store(), ...peers];
        const counted = async (store: (typeof stores)[number]) => {
          const values: number[] = [];
          for (let i = 0; i < 4; i++) values.push(await store.incr(key));
          return values;
        };
        const values = (await Promise.all(stores.map(counted))).flat();
        assert.deepEqual(
          [...values].sort((a, b) => a - b),
          Array.from({ length: 32 }, (_, i) => i + 1),
        );
      });
    },
    options.timeoutMs,
  );
  api.it(
    "increments by a step and counters are independent",
    async () => {
      const [a, b] = [id("ca"), id("cb")];
      assert.equal(await ctx.store().incr(a, 5), 5);
      assert.equal(await ctx.store().incr(a, -2), 3);
      assert.equal(await ctx.store().incr(b), 1);
    },
    options.timeoutMs,
  );
  api.it(
    "a counter expires with the store's expiry and restarts from zero",
    async () => {
      const seconds = options.minExpirySeconds ?? 1;
      const store = await options.createStore({ expires: seconds });
      try {
        const key = id("cexp");
        assert.equal(await store.incr(key, 3), 3);
        await sleep(seconds * 1000 + 1200);
        assert.equal(await store.incr(key), 1);
      } finally {
        await store.backend.destroy?.();
        await store.close();
      }
    },
    (options.minExpirySeconds ?? 1) * 1000 + 60_000,
  );
  api.it(
    "counters and sets live apart from task records: incr on a task's id leaves the task alone",
    async () => {
      const taskId = id("shared");
      await ctx.store().markSuccess(taskId, "kept", { metadata: { k: "v" } });
      const before = await raw(ctx, taskId);
      const longer = await options.createStore({ expires: 7 * 86_400 });
      try {
        // Key-value backends keep counters beside `celery-task-meta-<id>`: that key is no counter.
        for (const key of [`celery-task-meta-${taskId}`, `celery-taskset-meta-${taskId}`])
          await assert.rejects(longer.incr(key), InvalidIdError);
        assert.equal(await longer.incr(taskId, 5), 5);
        await longer.onChordPartReturn({ groupId: taskId, taskId, size: 2 });
        assert.equal(await longer.incr(taskId), 6);
      } finally {
        await longer.close();
      }
      const meta = await ctx.store().getMeta(taskId);
      assert.deepEqual([meta.status, meta.result, meta.metadata], ["SUCCESS", "kept", { k: "v" }]);
      const after = await raw(ctx, taskId);
      if (before && after)
        assert.equal(after.expiresAt?.getTime(), before.expiresAt?.getTime(), "the task's expiry");
    },
    options.timeoutMs,
  );
  api.it(
    "a set counts each member once, under concurrency too, and apart from counters",
    async () => {
      const backend = ctx.store().backend;
      const key = id("set");
      const members = Array.from({ length: width }, (_, i) => `m${i}`);
      const expiresAt = new Date(Date.now() + 3_600_000);
      const sizes = await Promise.all(
        [...members, ...members].map((m) => backend.addToSet(key, m, expiresAt)),
      );
      assert.ok(sizes.every((n) => n >= 1 && n <= width));
      assert.equal(await backend.addToSet(key, "m0", expiresAt), width);
      assert.equal(await backend.addToSet(key, "new", expiresAt), width + 1);
      assert.equal(await ctx.store().incr(key), 1, "a counter of the same key is its own");
    },
    options.timeoutMs,
  );
  api.it(
    "a set expires and restarts empty",
    async () => {
      const seconds = options.minExpirySeconds ?? 1;
      const backend = ctx.store().backend;
      const key = id("sexp");
      const soon = () => new Date(Date.now() + seconds * 1000);
      assert.equal(await backend.addToSet(key, "a", soon()), 1);
      assert.equal(await backend.addToSet(key, "b", soon()), 2);
      await sleep(seconds * 1000 + 1200);
      assert.equal(await backend.addToSet(key, "b", soon()), 1);
    },
    (options.minExpirySeconds ?? 1) * 1000 + 60_000,
  );
});
