// OpenSearch from a URL alone, against the real OpenSearch node: `opensearch://` builds the
// OpenSearch client through core's createStore (by name, as the CLI, proof and bench open stores,
// and from `backends`), and `elasticsearch://` at the same server is a typed ConfigurationError
// that names opensearch://, with nothing created.
import { randomUUID } from "node:crypto";
import { serverTarget } from "@resultstore/conformance";
import { ConfigurationError, createStore, type ResultStore } from "@resultstore/core";
import { afterAll, describe, expect, it } from "vitest";
import * as elasticsearchModule from "../src/index.js";
import { freshIndex, nodeOf, rawEngine } from "./helpers.js";

const target = serverTarget("OPENSEARCH");

describe.skipIf(!target.url)(`opensearch:// ${target.reason}`, () => {
  // The server's host, whichever scheme the environment names it with.
  const host = target.url ? new URL(nodeOf(target.url)).host : "";
  const stores: ResultStore[] = [];
  afterAll(async () => {
    for (const store of stores) {
      await store.backend.destroy?.();
      await store.close();
    }
  });

  const roundTrip = async (store: ResultStore) => {
    stores.push(store);
    const taskId = `os-${randomUUID()}`;
    await store.markQueued(taskId, { metadata: { tenant: "acme" } });
    expect(await store.markSuccess(taskId, { pages: 3 })).toMatchObject({ applied: true });
    expect((await store.markStarted(taskId)).applied).toBe(false);
    const meta = await store.getMeta(taskId);
    expect(meta).toMatchObject({ status: "SUCCESS", result: { pages: 3 } });
    expect(meta.metadata).toEqual({ tenant: "acme" });
  };

  it("createStore('opensearch://host') loads the backend by name and talks to OpenSearch", async () => {
    const store = await createStore(`opensearch://${host}`, {
      backendOptions: { namespace: freshIndex("os-url") },
    });
    await roundTrip(store);
  });

  it("the module passed in `backends` serves opensearch:// too, and the index may be in the path", async () => {
    const index = freshIndex("os-url");
    const store = await createStore(`opensearch://${host}/${index}`, {
      backends: [elasticsearchModule],
    });
    expect((store.backend as elasticsearchModule.ElasticsearchBackend).index).toBe(index);
    await roundTrip(store);
  });

  it("elasticsearch:// at an OpenSearch server is a ConfigurationError naming opensearch://, creating nothing", async () => {
    const index = freshIndex("os-wrong");
    const store = await createStore(`elasticsearch://${host}/${index}`);
    try {
      const write = store.markSuccess(`os-${randomUUID()}`, 1);
      await expect(write).rejects.toBeInstanceOf(ConfigurationError);
      await expect(write).rejects.toThrow(/opensearch:\/\//);
    } finally {
      await store.close();
    }
    const raw = await rawEngine(`opensearch://${host}`, "opensearch");
    try {
      const { statusCode } = await raw.request(
        { method: "HEAD", path: `/${index}` },
        { operation: "test read", ignore: [404] },
      );
      expect(statusCode).toBe(404);
    } finally {
      await raw.close();
    }
  });
});
