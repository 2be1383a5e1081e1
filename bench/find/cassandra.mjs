// Cassandra's hand-written equivalent: Cassandra orders only inside a partition (a task), so the
// native query is one SAI SELECT with both equalities (`rs_state`, `rs_find[tenant]`), PER
// PARTITION LIMIT 1, every match paged in, ordered newest first and cut to 100 here; the next
// page adds `rs_updated_at <= last` and cuts past the last record. The count is the SAI SELECT
// on the metadata entry alone, reading `rs_state`.
import cassandra from "cassandra-driver";
import { FIND_STATE, FIND_TENANT, PAGE, pageOf } from "../lib/find-mix.mjs";

/** `keyspace.table` of the store's tasks (its telemetry names them). */
const tableOf = (store) =>
  `${store.backend.telemetry.namespace}.${store.backend.telemetry.collection.tasks}`;
const TENANT = ["tenant", JSON.stringify(FIND_TENANT)];

function connect(url) {
  const host = /^cassandra:\/\/(?:[^@/]*@)?([^/?#,]+)/.exec(url)?.[1] ?? "127.0.0.1:9042";
  return new cassandra.Client({ contactPoints: [host], localDataCenter: "datacenter1" });
}

/** Every row of `statement`, page by page. */
async function allRows(client, statement, params) {
  const rows = [];
  let pageState;
  do {
    const page = await client.execute(statement, params, {
      prepare: true,
      fetchSize: 5000,
      pageState,
    });
    rows.push(...page.rows);
    pageState = page.pageState ?? undefined;
  } while (pageState);
  return rows;
}

export async function createNative(url, { store }) {
  const client = connect(url);
  await client.connect();
  const table = tableOf(store);
  const select =
    "SELECT task_id, status, result, date_done, traceback, children, rs_meta, rs_updated_at " +
    `FROM ${table} WHERE rs_state = ? AND rs_find[?] = ?`;
  return {
    name: "SAI SELECT, sorted in the client",
    page: async (last) => {
      const rows = last
        ? await allRows(client, `${select} AND rs_updated_at <= ? PER PARTITION LIMIT 1`, [
            FIND_STATE,
            ...TENANT,
            new Date(last.time),
          ])
        : await allRows(client, `${select} PER PARTITION LIMIT 1`, [FIND_STATE, ...TENANT]);
      const entries = rows.map((row) => ({
        row,
        taskId: row.get("task_id"),
        time: row.get("rs_updated_at").getTime(),
      }));
      return pageOf(entries, PAGE, last);
    },
    count: async () => {
      const rows = await allRows(
        client,
        `SELECT rs_state FROM ${table} WHERE rs_find[?] = ? PER PARTITION LIMIT 1`,
        TENANT,
      );
      const counts = {};
      for (const row of rows) counts[row.get("rs_state")] = (counts[row.get("rs_state")] ?? 0) + 1;
      return counts;
    },
    close: () => client.shutdown(),
  };
}

/**
 * A store whose table has no SAI index: provisioned by the store (a first write creates the
 * table and the six indexes), then the indexes dropped. No option leaves them out alone:
 * `createTables: false` leaves out the tables too.
 */
export async function storeWithoutIndexes(url, namespace, openStore) {
  const store = await openStore(namespace);
  await store.markSuccess("provisioning-write", null);
  const client = connect(url);
  await client.connect();
  const suffixes = ["state", "name", "updated", "metadata", "celery_state", "celery_time"];
  for (const suffix of suffixes)
    await client.execute(`DROP INDEX IF EXISTS ${tableOf(store)}_find_${suffix}`);
  await client.shutdown();
  return { store, how: "provisioned by the store, then its six SAI indexes dropped" };
}
