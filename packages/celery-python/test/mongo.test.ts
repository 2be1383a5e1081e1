// MongoDB (both engines the services run): resultstore-celery's MongoBackend against
// @resultstore/backend-mongo on the same collections, field by field.
import { randomUUID } from "node:crypto";
import * as mongo from "@resultstore/backend-mongo";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe } from "vitest";
import { packageEnv } from "./env.js";
import { parityTests, withoutTimes } from "./parity.js";

const DATABASE = "resultstore_celery_python";

const ENGINES = [
  // FerretDB 1.x runs an update as an unlocked read and write (backend-mongo's README, PROOF.md).
  { name: "FerretDB", target: serverTarget("MONGO"), atomic: false },
  { name: "mongo-java-server", target: serverTarget("MONGO_JAVA", "mongo-java") },
];

for (const { name, target, atomic } of ENGINES) {
  describe.skipIf(!target.url)(`resultstore+mongodb:// on ${name} ${target.reason}`, () => {
    const ns = `py${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    let store: ResultStore;
    let client: MongoClient;

    beforeAll(async () => {
      await packageEnv();
      const url = (target.url as string).replace(/\/+$/, "");
      store = await createStore({
        url: `${url}/${DATABASE}`,
        backends: [mongo],
        backendOptions: { namespace: ns },
      });
      client = new MongoClient(url);
    });
    afterAll(async () => {
      await (store?.backend as { destroy?: () => Promise<void> })?.destroy?.().catch(() => {});
      await store?.close();
      await client?.close();
    });

    parityTests({
      atomic,
      store: () => store,
      python: () => ({
        url: `${(target.url as string).replace(/\/+$/, "")}/${DATABASE}`,
        settings: {
          result_extended: true,
          mongodb_backend_settings: {
            taskmeta_collection: `${ns}_taskmeta`,
            groupmeta_collection: `${ns}_groupmeta`,
          },
        },
      }),
      stock: () => ({
        url: `${(target.url as string).replace(/\/+$/, "")}/${DATABASE}`,
        settings: {
          mongodb_backend_settings: {
            taskmeta_collection: `${ns}_taskmeta`,
            groupmeta_collection: `${ns}_groupmeta`,
          },
        },
      }),
      raw: async (id) => {
        const doc = await client
          .db(DATABASE)
          .collection(`${ns}_taskmeta`)
          .findOne({ _id: id as never });
        if (!doc) return null;
        const { _id, ...rest } = doc;
        return withoutTimes(rest, ["date_done", "updated_at", "expires_at", "write_id"]);
      },
    });
  });
}
