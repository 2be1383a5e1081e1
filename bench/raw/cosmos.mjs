// The raw @azure/cosmos driver's minimal native operations, in Celery's cosmosdbsql layout:
// an unguarded upsert of {id, value}, a point read, concurrent point reads for getMany, and an
// atomic patch `incr`.
import { celeryValue, cosmosContainer } from "../lib/clients.mjs";

export async function createRaw(url, payload) {
  const { container, close } = await cosmosContainer(url, "celerycol_benchraw");
  const key = (id) => `celery-task-meta-${id}`;
  const write = (id, status, result, metadata) =>
    container.items.upsert({ id: key(id), value: celeryValue(id, status, result, metadata) });
  const patch = (counter) =>
    container.item(counter, counter).patch([{ op: "incr", path: "/count", value: 1 }]);
  return {
    name: "@azure/cosmos",
    write,
    store: (id) => write(id, "SUCCESS", payload),
    get: async (id) => JSON.parse((await container.item(key(id), key(id)).read()).resource.value),
    // @azure/cosmos 4.9 has no items.readMany: point reads, all in flight at once.
    getMany: (ids) =>
      Promise.all(
        ids.map(async (id) =>
          JSON.parse((await container.item(key(id), key(id)).read()).resource.value),
        ),
      ),
    incr: async (counter) => {
      try {
        return (await patch(counter)).resource.count;
      } catch (error) {
        if (error.code !== 404) throw error;
        await container.items.create({ id: counter, count: 0 }).catch((e) => {
          if (e.code !== 409) throw e;
        });
        return (await patch(counter)).resource.count;
      }
    },
    close,
  };
}
