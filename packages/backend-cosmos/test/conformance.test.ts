import { runConformanceSuite } from "@resultstore/conformance";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { CosmosBackend } from "../src/index.js";
import { peerStore, readDocument, store, target } from "./helpers.js";

describe.skipIf(!target.url)(`cosmos ${target.reason}`, () =>
  runConformanceSuite(
    { describe, it, beforeAll, afterAll },
    {
      name: "cosmos",
      refusesOversizedMerge: true,
      recognisesRetriedWrites: true,
      createStore: async (options) => store(options),
      createPeer: async (of) => peerStore(of),
      readRaw: async (s, taskId) => {
        const doc = await readDocument(s.backend as CosmosBackend, `celery-task-meta-${taskId}`);
        if (!doc) return null;
        return {
          status: doc.status as string,
          metadata: (doc.metadata ?? {}) as Record<string, unknown>,
          expiresAt: typeof doc.expires_at === "number" ? new Date(doc.expires_at) : null,
        };
      },
    },
  ),
);
