import { runConformanceSuite, serverTarget } from "@resultstore/conformance";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createTestStore, dropKeyspace, peerStore, readRawRecord } from "./helpers.js";

const target = serverTarget("CASSANDRA");

describe.skipIf(!target.url)(`cassandra ${target.reason}`, () => {
  const url = target.url as string;
  afterAll(() => dropKeyspace());
  runConformanceSuite(
    { describe, it, beforeAll, afterAll },
    {
      name: "cassandra",
      refusesOversizedMerge: true,
      recognisesRetriedWrites: true,
      createStore: (options) => createTestStore(url, options),
      createPeer: (store) => peerStore(url, store),
      readRaw: (store, taskId) => readRawRecord(url, store, taskId),
      timeoutMs: 120_000,
    },
  );
});
