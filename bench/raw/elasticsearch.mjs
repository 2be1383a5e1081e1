// The floor for elasticsearch://: @elastic/elasticsearch's minimal native operation for each op —
// an unguarded index of the Celery-shaped document, a realtime GET by _id, an _mget for getMany,
// and (no painless on the test node, no native increment in Elasticsearch) a read +
// version-guarded write of a counter.
import { celeryValue, elasticClient, unique } from "../lib/clients.mjs";

export async function createRaw(url, payload) {
  const client = await elasticClient(url);
  const index = `bench-raw-${unique()}`;
  await client.indices.create({ index, mappings: { dynamic: false } });
  const docId = (id) => `celery-task-meta-${id}`;
  const write = (id, status, result, metadata) =>
    client.index({
      index,
      id: docId(id),
      document: {
        result: celeryValue(id, status, result, metadata),
        "@timestamp": new Date().toISOString(),
      },
    });
  return {
    name: "@elastic/elasticsearch index/get/mget/CAS",
    write,
    store: (id) => write(id, "SUCCESS", payload),
    get: async (id) => JSON.parse((await client.get({ index, id: docId(id) }))._source.result),
    getMany: async (ids) => {
      const { docs } = await client.mget({ index, ids: ids.map(docId) });
      return docs.map((doc) => JSON.parse(doc._source.result));
    },
    incr: async (key) => {
      for (;;) {
        const doc = await client.get({ index, id: key }, { ignore: [404] });
        const count = (doc.found ? doc._source.count : 0) + 1;
        const guard = doc.found
          ? { if_seq_no: doc._seq_no, if_primary_term: doc._primary_term }
          : { op_type: "create" };
        const written = await client.index(
          { index, id: key, document: { count }, ...guard },
          { ignore: [409] },
        );
        if (written.result) return count;
      }
    },
    close: async () => {
      await client.indices.delete({ index }, { ignore: [404] });
      await client.close();
    },
  };
}
