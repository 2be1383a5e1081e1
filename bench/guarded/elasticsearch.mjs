// The state rules hand-written with @elastic/elasticsearch (no scripting assumed): `_create` for a
// new id (one round trip); when it exists (409), a realtime GET, the check and merge in the
// client, then an index guarded by if_seq_no/if_primary_term, retried when another writer won.
import { statesRefusing } from "@resultstore/core";
import { elasticClient, unique } from "../lib/clients.mjs";

export async function createGuarded(url) {
  const client = await elasticClient(url);
  const index = `bench-guarded-${unique()}`;
  await client.indices.create({
    index,
    mappings: { dynamic: false, properties: { status: { type: "keyword" } } },
  });
  return {
    name: "_create, else GET + index if_seq_no",
    write: async (id, status, result, metadata) => {
      const fields = {
        status,
        result: JSON.stringify(result),
        traceback: null,
        date_done: new Date().toISOString(),
      };
      const created = await client.index(
        { index, id, op_type: "create", document: { ...fields, metadata: metadata ?? {} } },
        { ignore: [409] },
      );
      if (created.result === "created") return true;
      for (;;) {
        const doc = await client.get({ index, id });
        if (statesRefusing(status).includes(doc._source.status)) return false;
        const document = {
          ...doc._source,
          ...fields,
          metadata: { ...doc._source.metadata, ...metadata },
        };
        const written = await client.index(
          { index, id, document, if_seq_no: doc._seq_no, if_primary_term: doc._primary_term },
          { ignore: [409] },
        );
        if (written.result) return true;
      }
    },
    close: async () => {
      await client.indices.delete({ index }, { ignore: [404] });
      await client.close();
    },
  };
}
