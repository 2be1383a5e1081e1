import { runConformanceSuite, serverTarget } from "@resultstore/conformance";
import { decodeJson } from "@resultstore/core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { consulOf, newStore, peerStore, rawEntry } from "./helpers.js";

const target = serverTarget("CONSUL");

describe.skipIf(!target.url)(`consul ${target.reason}`, () => {
  const url = target.url as string;
  runConformanceSuite(
    { describe, it, beforeAll, afterAll },
    {
      name: "consul",
      refusesOversizedMerge: true,
      recognisesRetriedWrites: true,
      createStore: async (options) => newStore(url, options),
      createPeer: (store) => peerStore(url, store),
      // What Consul holds: the stored meta JSON (status, metadata) and our `expires_at`, which is
      // what cleanup() acts on (the session's TTL only bounds Consul's own deletion; test/expiry).
      readRaw: async (store, taskId) => {
        const entry = await rawEntry(url, `${consulOf(store).keyPrefix}celery-task-meta-${taskId}`);
        if (!entry) return null;
        const meta = decodeJson(entry.value) as {
          status: string;
          metadata?: Record<string, unknown>;
          expires_at?: string | null;
        };
        return {
          status: meta.status,
          metadata: meta.metadata ?? {},
          expiresAt: meta.expires_at ? new Date(meta.expires_at) : null,
        };
      },
    },
  );
});
