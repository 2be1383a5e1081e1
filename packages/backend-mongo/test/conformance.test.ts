import { runConformanceSuite } from "@resultstore/conformance";
import { afterAll, beforeAll, describe, it } from "vitest";
import { closeRawClients, engineTargets, freshStore, peerStore, rawTask } from "./helpers.js";

/**
 * FerretDB 1.x applies each update as an unlocked read-modify-write, so concurrent updates to ONE
 * document are lost (see engine.test.ts). MongoDB — and mongo-java-server, which runs the same
 * suite with no opt-outs — apply single-document updates atomically, which is all these need.
 */
const FERRETDB_ATOMICITY =
  "FerretDB 1.x does not apply updates to one document atomically (concurrent updates are lost); " +
  "the same group passes on mongo-java-server and MongoDB";

afterAll(closeRawClients);

for (const target of await engineTargets()) {
  const engine = target.engine ? `${target.engine.name} ${target.engine.version}` : "";
  describe.skipIf(!target.url)(`mongodb on ${target.label} ${engine}${target.reason}`, () => {
    const url = target.url as string;
    const ferretdb = target.engine?.name === "FerretDB";
    runConformanceSuite(
      { describe, it, beforeAll, afterAll },
      {
        name: `mongodb (${engine})`,
        createStore: (options) => freshStore(url, options),
        createPeer: (store) => peerStore(url, store),
        readRaw: async (store, taskId) => {
          const doc = await rawTask(url, store, taskId);
          if (!doc) return null;
          return { status: doc.status, metadata: doc.metadata, expiresAt: doc.expires_at ?? null };
        },
        optOut: ferretdb
          ? { races: FERRETDB_ATOMICITY, counters: FERRETDB_ATOMICITY, chords: FERRETDB_ATOMICITY }
          : {},
        // MongoDB refuses an update whose document outgrows 16 MiB; FerretDB 1.x and
        // mongo-java-server (which calls itself MongoDB 5.0.0) store it.
        refusesOversizedMerge: target.engine?.name === "MongoDB" && target.label !== "mongo-java",
        recognisesRetriedWrites: true,
        concurrency: 32,
      },
    );
  });
}
