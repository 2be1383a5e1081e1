// The state rules hand-written with @azure/cosmos: items.create for a new id (one round trip);
// when it exists (409), a point read (its _etag), the check and merge in the client, then a
// replace with If-Match, retried on 412 when another writer won.
import { statesRefusing } from "@resultstore/core";
import { cosmosContainer } from "../lib/clients.mjs";

export async function createGuarded(url) {
  const { container, close } = await cosmosContainer(url, "celerycol_benchguarded");
  return {
    name: "create, else read + replace If-Match",
    write: async (id, status, result, metadata) => {
      const fields = { status, result, traceback: null, date_done: new Date().toISOString() };
      try {
        await container.items.create({ id, ...fields, metadata: metadata ?? {} });
        return true;
      } catch (error) {
        if (error.code !== 409) throw error;
      }
      for (;;) {
        const { resource: stored } = await container.item(id, id).read();
        if (statesRefusing(status).includes(stored.status)) return false;
        const next = { ...stored, ...fields, metadata: { ...stored.metadata, ...metadata } };
        try {
          await container
            .item(id, id)
            .replace(next, { accessCondition: { type: "IfMatch", condition: stored._etag } });
          return true;
        } catch (error) {
          if (error.code !== 412) throw error;
        }
      }
    },
    close,
  };
}
