// The state rules hand-written on Consul's HTTP API: PUT ?cas=0 creates a new id in one round
// trip; when the key exists, GET (its ModifyIndex), the check and merge in the client, then PUT
// ?cas=<ModifyIndex>, retried when another writer won.
import { statesRefusing } from "@resultstore/core";
import { consulApi } from "../lib/clients.mjs";

export async function createGuarded(url) {
  const { call, idle, close } = consulApi(url, "bench-guarded");
  const put = async (id, index, value) =>
    (await call("PUT", `${id}?cas=${index}`, JSON.stringify(value))).body.trim() === "true";
  return {
    name: "PUT ?cas=0, else GET + PUT ?cas=<index>",
    write: async (id, status, result, metadata) => {
      const fields = { status, result, traceback: null, date_done: new Date().toISOString() };
      if (await put(id, 0, { ...fields, metadata: metadata ?? {}, task_id: id })) return true;
      for (;;) {
        const { body } = await call("GET", id);
        const entry = JSON.parse(body)[0];
        const stored = JSON.parse(Buffer.from(entry.Value, "base64").toString("utf8"));
        if (statesRefusing(status).includes(stored.status)) return false;
        const value = { ...stored, ...fields, metadata: { ...stored.metadata, ...metadata } };
        if (await put(id, entry.ModifyIndex, value)) return true;
      }
    },
    idle,
    close,
  };
}
