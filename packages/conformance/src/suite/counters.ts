import assert from "node:assert/strict";
import { defineGroup, id, sleep } from "./context.js";

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
});
