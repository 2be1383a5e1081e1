// The floor for cassandra://: what Celery's own backend does per call, with the same driver.
// store = Celery's unguarded INSERT … USING TTL; get = Celery's newest-row SELECT; incr = a native
// counter column update (one round trip, returns nothing; counters take no TTL).
import { randomUUID } from "node:crypto";
import cassandra from "cassandra-driver";

export async function createRaw(url, payload) {
  const host = /^cassandra:\/\/(?:[^@/]*@)?([^/?#,]+)/.exec(url)?.[1] ?? "127.0.0.1:9042";
  const client = new cassandra.Client({ contactPoints: [host], localDataCenter: "datacenter1" });
  await client.connect();
  const keyspace = `bench_raw_${randomUUID().replaceAll("-", "").slice(0, 8)}`;
  await client.execute(
    `CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
  );
  await client.execute(
    `CREATE TABLE ${keyspace}.celery_taskmeta (task_id text, status text, result blob, date_done timestamp, traceback blob, children blob, PRIMARY KEY ((task_id), date_done)) WITH CLUSTERING ORDER BY (date_done DESC)`,
  );
  await client.execute(`CREATE TABLE ${keyspace}.counters (key text PRIMARY KEY, value counter)`);
  const result = Buffer.from(JSON.stringify(payload));
  const nullJson = Buffer.from("null");
  const children = Buffer.from("[]");
  const options = { prepare: true, consistency: cassandra.types.consistencies.localQuorum };
  return {
    name: "cassandra-driver (Celery's INSERT/SELECT, counter column)",
    store: (id) =>
      client.execute(
        `INSERT INTO ${keyspace}.celery_taskmeta (task_id, status, result, date_done, traceback, children) VALUES (?, ?, ?, ?, ?, ?) USING TTL 86400`,
        [id, "SUCCESS", result, new Date(), nullJson, children],
        options,
      ),
    get: async (id) => {
      const rs = await client.execute(
        `SELECT status, result, date_done, traceback, children FROM ${keyspace}.celery_taskmeta WHERE task_id = ? LIMIT 1`,
        [id],
        options,
      );
      const row = rs.first();
      return row && { status: row.status, result: JSON.parse(row.result.toString()) };
    },
    incr: (key) =>
      client.execute(
        `UPDATE ${keyspace}.counters SET value = value + 1 WHERE key = ?`,
        [key],
        options,
      ),
    close: async () => {
      await client.execute(`DROP KEYSPACE ${keyspace}`);
      await client.shutdown();
    },
  };
}
