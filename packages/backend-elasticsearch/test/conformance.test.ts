import { Client } from "@elastic/elasticsearch";
import { runConformanceSuite, serverTarget } from "@resultstore/conformance";
import { afterAll, beforeAll, describe, it } from "vitest";
import { CLIENT_UNDER_TEST, createStore, nodeOf, readRaw } from "./helpers.js";

const target = serverTarget("ELASTICSEARCH");

describe.skipIf(!target.url)(`elasticsearch ${target.reason}`, () => {
  const url = target.url ?? "";
  let raw: Client;
  beforeAll(() => {
    raw = new Client({ node: nodeOf(url) });
  });
  afterAll(() => raw?.close());
  runConformanceSuite(
    { describe, it, beforeAll, afterAll },
    {
      name: `elasticsearch (client: ${CLIENT_UNDER_TEST})`,
      refusesOversizedMerge: true,
      recognisesRetriedWrites: true,
      createStore: (options) => createStore(url, options),
      readRaw: (store, taskId) => readRaw(raw, store, taskId),
    },
  );
});
