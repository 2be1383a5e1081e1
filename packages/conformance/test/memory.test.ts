import { MemoryBackend, ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { runConformanceSuite } from "../src/index.js";

// The suite against the reference backend: a change to the suite is checked without a database.
runConformanceSuite(
  { describe, it, beforeAll, afterAll },
  {
    name: "memory",
    refusesOversizedMerge: true,
    recognisesRetriedWrites: true,
    createStore: async (options) =>
      new ResultStore(new MemoryBackend({ maxRecordBytes: 256 * 1024 }), options),
    // Another process of an in-memory store is another store over the same backend.
    createPeer: async (store) => new ResultStore(store.backend),
    readRaw: async (store, taskId) => {
      const record = await store.backend.read(taskId);
      return (
        record && { status: record.status, metadata: record.metadata, expiresAt: record.expiresAt }
      );
    },
  },
);
