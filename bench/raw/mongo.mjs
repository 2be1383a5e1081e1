// The floor for mongodb://: the official driver's minimal native operation for each, on a
// Celery-shaped document (an unguarded replaceOne upsert, a findOne by _id, a findOneAndUpdate $inc).
import { randomUUID } from "node:crypto";
import { MongoClient } from "mongodb";

export async function createRaw(url, payload) {
  const client = await MongoClient.connect(url);
  const prefix = `bench_raw_${randomUUID().slice(0, 8)}`;
  const tasks = client.db("celery").collection(`${prefix}_taskmeta`);
  const counters = client.db("celery").collection(`${prefix}_counters`);
  const result = JSON.stringify(payload);
  return {
    name: "mongodb driver",
    store: (id) =>
      tasks.replaceOne(
        { _id: id },
        { status: "SUCCESS", result, traceback: null, children: [], date_done: new Date() },
        { upsert: true },
      ),
    get: async (id) => {
      const doc = await tasks.findOne({ _id: id });
      return doc && { ...doc, result: JSON.parse(doc.result) };
    },
    // Concurrent first upserts of one key can collide (E11000); MongoDB retries those itself,
    // FerretDB does not, so the client does.
    incr: async (key) => {
      for (;;) {
        try {
          const doc = await counters.findOneAndUpdate(
            { _id: key },
            { $inc: { value: 1 } },
            { upsert: true, returnDocument: "after" },
          );
          return doc.value;
        } catch (error) {
          if (error.code !== 11000) throw error;
        }
      }
    },
    close: async () => {
      await tasks.drop().catch(() => {});
      await counters.drop().catch(() => {});
      await client.close();
    },
  };
}
