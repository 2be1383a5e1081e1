// The state rules hand-written with the mongodb driver: one updateOne whose filter carries the
// guard, upserting; a refused write of an existing id surfaces as a duplicate-key error (E11000).
// metadata merges key by key through `$set` of dotted paths.
import { statesRefusing } from "@resultstore/core";
import { MongoClient } from "mongodb";
import { unique } from "../lib/clients.mjs";

export async function createGuarded(url) {
  const client = await MongoClient.connect(url);
  const tasks = client.db("celery").collection(`bench_guarded_${unique()}`);
  return {
    name: "updateOne({_id, status: {$nin}}, $set, upsert)",
    write: async (id, status, result, metadata) => {
      const set = {
        status,
        result: JSON.stringify(result),
        traceback: null,
        date_done: new Date(),
        expires: new Date(Date.now() + 86_400_000),
      };
      for (const [k, v] of Object.entries(metadata ?? {})) set[`metadata.${k}`] = v;
      try {
        await tasks.updateOne(
          { _id: id, status: { $nin: statesRefusing(status) } },
          { $set: set },
          { upsert: true },
        );
        return true;
      } catch (error) {
        if (error.code === 11000) return false;
        throw error;
      }
    },
    close: async () => {
      await tasks.drop().catch(() => {});
      await client.close();
    },
  };
}
