// Cosmos DB's hand-written equivalent: one SQL query with both equalities, ORDER BY (status,
// updated_at, id) descending (the composite index the store provisions), TOP 100; the next page
// by a keyset on (updated_at, id). The count reads `c.status` of every match (the emulator has
// no GROUP BY), as the store's does.
import { cosmosClient } from "../lib/clients.mjs";
import { FIND_STATE, FIND_TENANT, PAGE } from "../lib/find-mix.mjs";

const TASK_KEY = "celery-task-meta-";

export async function createNative(url, { store }) {
  const client = cosmosClient(url);
  const container = client
    .database(store.backend.databaseName)
    .container(store.backend.containerName);
  return {
    name: "SQL query, composite index",
    page: async (last) => {
      const parameters = [
        { name: "@state", value: FIND_STATE },
        { name: "@tenant", value: FIND_TENANT },
        { name: "@top", value: PAGE },
      ];
      let past = "";
      if (last) {
        parameters.push(
          { name: "@time", value: last.time },
          { name: "@id", value: TASK_KEY + last.taskId },
        );
        past = " AND (c.updated_at < @time OR (c.updated_at = @time AND c.id < @id))";
      }
      const query =
        "SELECT TOP @top * FROM c WHERE c.status = @state AND c.metadata.tenant = @tenant" +
        `${past} ORDER BY c.status DESC, c.updated_at DESC, c.id DESC`;
      const { resources } = await container.items
        .query({ query, parameters }, { maxItemCount: PAGE })
        .fetchAll();
      return resources.map((doc) => ({
        ...doc,
        taskId: doc.id.slice(TASK_KEY.length),
        time: doc.updated_at,
      }));
    },
    count: async () => {
      const query = "SELECT VALUE c.status FROM c WHERE c.metadata.tenant = @tenant";
      const { resources } = await container.items
        .query(
          { query, parameters: [{ name: "@tenant", value: FIND_TENANT }] },
          { maxItemCount: 1000 },
        )
        .fetchAll();
      const counts = {};
      for (const state of resources) counts[state] = (counts[state] ?? 0) + 1;
      return counts;
    },
    close: () => client.dispose(),
  };
}

/** The emulator keeps no indexes (README "Finding tasks"): there is no index cost to measure. */
export const storeWithoutIndexes = async () =>
  "not measured: the local Cosmos server keeps no indexes and charges nothing, so a container without the composite indexes writes alike";
