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
    "describes where it stores for telemetry: db.system.name, collections, server",
    async () => {
      const store = await options.createStore();
      try {
        const described = store.backend.telemetry;
        if (described === undefined) return; // optional: spans then name the backend itself
        assert.match(described.system, /^[a-z][a-z0-9_.]*$/, "db.system.name");
        const { collection, serverPort } = described;
        const names = typeof collection === "object" ? Object.values(collection) : [collection];
        for (const name of names)
          assert.ok(name === undefined || (typeof name === "string" && name));
        const kinds = ["counters", "groups", "sets", "tasks"];
        if (typeof collection === "object")
          for (const kind of Object.keys(collection)) assert.ok(kinds.includes(kind), kind);
        assert.ok(serverPort === undefined || Number.isInteger(serverPort), "server.port");
      } finally {
        await store.close(); // nothing was written: there is nothing to destroy
      }
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
