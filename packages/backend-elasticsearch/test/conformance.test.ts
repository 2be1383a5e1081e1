import { runConformanceSuite } from "@resultstore/conformance";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  createPeer,
  createStore,
  type Engine,
  engineTargets,
  rawEngine,
  readRaw,
} from "./helpers.js";

// The whole suite against each engine: Elasticsearch and a real OpenSearch node.
for (const { engine, target, client } of engineTargets()) {
  describe.skipIf(!target.url)(`${engine} ${target.reason}`, () => {
    const url = target.url ?? "";
    let raw: Engine;
    beforeAll(async () => {
      raw = await rawEngine(url, client);
    });
    afterAll(() => raw?.close());
    runConformanceSuite(
      { describe, it, beforeAll, afterAll },
      {
        name: `${engine} (client: ${client})`,
        refusesOversizedMerge: true,
        recognisesRetriedWrites: true,
        createStore: (options) => createStore(url, options, {}, client),
        createPeer: (store) => createPeer(url, store, client),
        readRaw: (store, taskId) => readRaw(raw, store, taskId),
      },
    );
  });
}
