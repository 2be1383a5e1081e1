// The floor for elasticsearch://: @elastic/elasticsearch's minimal native operation for each op —
// an unguarded index of the Celery-shaped document, a realtime GET by _id, and (no painless on the
// test node, no native increment in Elasticsearch) a read + version-guarded write of a counter.
import { randomUUID } from "node:crypto";
import { Client } from "@elastic/elasticsearch";

export async function createRaw(url, payload) {
  const parsed = new URL(
    url.replace(/^elasticsearch(\+https?)?:/, (_, t) => `${t ? t.slice(1) : "http"}:`),
  );
  const client = new Client({ node: `${parsed.protocol}//${parsed.host}` });
  const index = `bench-raw-${randomUUID().slice(0, 8)}`;
  await client.indices.create({ index, mappings: { dynamic: false } });
  const meta = (id) =>
    JSON.stringify({
      status: "SUCCESS",
      result: payload,
      traceback: null,
      children: [],
      task_id: id,
    });
  return {
    name: "@elastic/elasticsearch index/get/CAS",
    store: (id) =>
      client.index({
        index,
        id: `celery-task-meta-${id}`,
        document: { result: meta(id), "@timestamp": new Date().toISOString() },
      }),
    get: async (id) => {
      const doc = await client.get({ index, id: `celery-task-meta-${id}` });
      return JSON.parse(doc._source.result);
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
