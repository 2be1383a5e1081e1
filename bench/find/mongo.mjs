// MongoDB's hand-written equivalent (also mongo-java-server and FerretDB): one find with the
// state and metadata equalities, sorted on the find index {status, updated_at, date_done, _id}
// (descending), limit 100; the next page by a keyset on (updated_at, _id). The count is one
// aggregation, $match on the metadata key then $group by status.
import { MongoClient } from "mongodb";
import { FIND_STATE, FIND_TENANT, PAGE } from "../lib/find-mix.mjs";

const SORT = { updated_at: -1, date_done: -1, _id: -1 };

function databaseOf(url) {
  const path = new URL(url).pathname.slice(1);
  return path || "celery";
}

export async function createNative(url, { namespace }) {
  const client = await MongoClient.connect(url);
  const tasks = client.db(databaseOf(url)).collection(`${namespace}_taskmeta`);
  return {
    name: "mongodb driver find",
    page: async (last) => {
      const filter = { status: FIND_STATE, "metadata.tenant": FIND_TENANT };
      if (last) {
        const time = new Date(last.time);
        filter.updated_at = { $lte: time };
        filter.$or = [{ updated_at: { $lt: time } }, { _id: { $lt: last.taskId } }];
      }
      const docs = await tasks.find(filter, { sort: SORT, limit: PAGE }).toArray();
      return docs.map((doc) => ({ ...doc, taskId: doc._id, time: doc.updated_at.getTime() }));
    },
    count: async () => {
      const groups = await tasks
        .aggregate([
          { $match: { "metadata.tenant": FIND_TENANT } },
          { $group: { _id: "$status", count: { $sum: 1 } } },
        ])
        .toArray();
      return Object.fromEntries(groups.map((g) => [g._id, g.count]));
    },
    close: () => client.close(),
  };
}

/**
 * A store whose collection has the indexes Celery's and the expiry ones but not find's: opened
 * with `createIndexes: false`, which creates none, then the two others created here.
 */
export async function storeWithoutIndexes(url, namespace, openStore) {
  const store = await openStore(namespace, { createIndexes: false });
  const client = await MongoClient.connect(url);
  const tasks = client.db(databaseOf(url)).collection(`${namespace}_taskmeta`);
  await tasks.createIndex({ date_done: 1 });
  await tasks.createIndex({ expires_at: 1 });
  return {
    store,
    how: "createIndexes: false, then { date_done: 1 } and { expires_at: 1 } created by hand",
    close: () => client.close(),
  };
}
