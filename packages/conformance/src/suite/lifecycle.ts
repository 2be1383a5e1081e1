import assert from "node:assert/strict";
import { StoreClosedError } from "@resultstore/core";
import { defineGroup, id } from "./context.js";

/** Closing: idempotent, and every later call rejects with StoreClosedError. */
export const lifecycleTests = defineGroup("lifecycle", (_ctx, api, options) => {
  api.it(
    "a closed store rejects calls with StoreClosedError; close is idempotent",
    async () => {
      const store = await options.createStore();
      await store.markSuccess(id(), 1);
      await store.backend.destroy?.();
      await store.close();
      await store.close();
      await assert.rejects(store.getMeta(id()), StoreClosedError);
      await assert.rejects(store.markSuccess(id(), 1), StoreClosedError);
      await assert.rejects(store.incr(id()), StoreClosedError);
    },
    options.timeoutMs,
  );
  api.it(
    "a store closed before first use closes cleanly",
    async () => {
      const store = await options.createStore();
      await store.close();
      await store.close();
    },
    options.timeoutMs,
  );
});
