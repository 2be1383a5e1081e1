// The state rules hand-written with cassandra-driver: ONE lightweight transaction per write,
// `UPDATE … SET …, metadata = metadata + ? … IF status != ? AND …` (a missing row passes every
// `!=`, so a new id needs no IF NOT EXISTS). Serial consistency: the driver's default (SERIAL).
import { statesRefusing } from "@resultstore/core";
import { cassandraKeyspace } from "../lib/clients.mjs";

export async function createGuarded(url) {
  const { client, keyspace, options, close } = await cassandraKeyspace(url, "bench_guarded");
  await client.execute(
    `CREATE TABLE ${keyspace}.tasks (task_id text PRIMARY KEY, status text, result text, traceback text, date_done timestamp, metadata map<text, text>)`,
  );
  return {
    name: "UPDATE … metadata = metadata + ? … IF status != …",
    write: async (id, status, result, metadata) => {
      const refusing = statesRefusing(status);
      const guard = refusing.map(() => "status != ?").join(" AND ");
      const meta = Object.fromEntries(
        Object.entries(metadata ?? {}).map(([k, v]) => [k, JSON.stringify(v)]),
      );
      const rs = await client.execute(
        `UPDATE ${keyspace}.tasks USING TTL 86400 SET status = ?, result = ?, traceback = ?, date_done = ?, metadata = metadata + ? WHERE task_id = ?${guard ? ` IF ${guard}` : ""}`,
        [status, JSON.stringify(result), null, new Date(), meta, id, ...refusing],
        options,
      );
      return guard ? rs.first()["[applied]"] : true;
    },
    close,
  };
}
