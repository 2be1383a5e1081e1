import { type RawRecord, runConformanceSuite, serverTarget } from "@resultstore/conformance";
import { ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type DynamoDBBackend, fromUrl } from "../src/index.js";
import { freshNamespace, rawClient, readRawRecord } from "./helpers.js";

const target = serverTarget("DYNAMODB");

describe.skipIf(!target.url)(`dynamodb ${target.reason}`, () => {
  const url = target.url as string;
  const client = rawClient(url);
  afterAll(() => client.destroy());
  runConformanceSuite(
    { describe, it, beforeAll, afterAll },
    {
      name: "dynamodb",
      refusesOversizedMerge: true,
      recognisesRetriedWrites: true,
      createStore: async (options) =>
        new ResultStore(fromUrl(url, { namespace: freshNamespace("conf") }), options),
      // A second process: its own SDK client on the same table.
      createPeer: async (store) =>
        new ResultStore(fromUrl(url, { table: (store.backend as DynamoDBBackend).table })),
      readRaw: (store, taskId): Promise<RawRecord | null> =>
        readRawRecord(client, (store.backend as DynamoDBBackend).table, taskId),
    },
  );
});
