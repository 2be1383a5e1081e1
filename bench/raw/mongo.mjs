// The floor for mongodb://: the official driver's minimal native operation for each, on a
// Celery-shaped document (an unguarded replaceOne upsert, a findOne by _id, a find $in for
// getMany, a findOneAndUpdate $inc).
import { randomUUID } from "node:crypto";
import { MongoClient } from "mongodb";

export async function createRaw(url, payload) {
  const client = await MongoClient.connect(url);
  const prefix = `bench_raw_${randomUUID().slice(0, 8)}`;
  const tasks = client.db("celery").collection(`${prefix}_taskmeta`);
  const counters = client.db("celery").collection(`${prefix}_counters`);
  // Celery's own write: a replaceOne upsert, no guard, no merge.
  const write = (id, status, value, metadata) =>
    tasks.replaceOne(
      { _id: id },
      {
        status,
        result: JSON.stringify(value),
        traceback: null,
        children: [],
        date_done: new Date(),
        ...(metadata ? { metadata } : {}),
      },
      { upsert: true },
    );
  return {
    name: "mongodb driver",
    store: (id) => write(id, "SUCCESS", payload),
    write,
    getMany: async (ids) =>
      (await tasks.find({ _id: { $in: ids } }).toArray()).map((doc) => ({
        ...doc,
        result: JSON.parse(doc.result),
      })),
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
