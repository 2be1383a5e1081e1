// The floor for cassandra://: what Celery's own backend does per call, with the same driver.
// store = Celery's unguarded INSERT … USING TTL; get = Celery's newest-row SELECT; getMany = one
// SELECT … IN per 100 ids; incr = a native counter column update (one round trip, returns
// nothing; counters take no TTL).
import { cassandraKeyspace } from "../lib/clients.mjs";

export async function createRaw(url, payload) {
  const { client, keyspace, options, close } = await cassandraKeyspace(url, "bench_raw");
  await client.execute(
    `CREATE TABLE ${keyspace}.celery_taskmeta (task_id text, status text, result blob, date_done timestamp, traceback blob, children blob, PRIMARY KEY ((task_id), date_done)) WITH CLUSTERING ORDER BY (date_done DESC)`,
  );
  await client.execute(`CREATE TABLE ${keyspace}.counters (key text PRIMARY KEY, value counter)`);
  const nullJson = Buffer.from("null");
  const children = Buffer.from("[]");
  const columns = "status, result, date_done, traceback, children";
  const decode = (row) => ({ status: row.status, result: JSON.parse(row.result.toString()) });
  const write = (id, status, value) =>
    client.execute(
      `INSERT INTO ${keyspace}.celery_taskmeta (task_id, status, result, date_done, traceback, children) VALUES (?, ?, ?, ?, ?, ?) USING TTL 86400`,
      [id, status, Buffer.from(JSON.stringify(value)), new Date(), nullJson, children],
      options,
    );
  return {
    name: "cassandra-driver (Celery's INSERT/SELECT, SELECT … IN, counter column)",
    write,
    store: (id) => write(id, "SUCCESS", payload),
    get: async (id) => {
      const rs = await client.execute(
        `SELECT ${columns} FROM ${keyspace}.celery_taskmeta WHERE task_id = ? LIMIT 1`,
        [id],
        options,
      );
      const row = rs.first();
      return row && decode(row);
    },
    getMany: async (ids) => {
      const rs = await client.execute(
        `SELECT task_id, ${columns} FROM ${keyspace}.celery_taskmeta WHERE task_id IN ?`,
        [ids],
        options,
      );
      return rs.rows.map(decode);
    },
    incr: (key) =>
      client.execute(
        `UPDATE ${keyspace}.counters SET value = value + 1 WHERE key = ?`,
        [key],
        options,
      ),
    close,
  };
}
