// The state rules hand-written over a Map of encoded JSON: check the stored status, merge the
// metadata, store the encoded meta. What an in-process store has to do at the least.
import { statesRefusing } from "@resultstore/core";

export async function createGuarded() {
  const tasks = new Map();
  return {
    name: "Map + status check + merge",
    write: async (id, status, result, metadata) => {
      const stored = tasks.get(id);
      if (stored && statesRefusing(status).includes(stored.status)) return false;
      const merged = metadata ? { ...stored?.metadata, ...metadata } : (stored?.metadata ?? {});
      const json = JSON.stringify({ status, result, metadata: merged, task_id: id });
      tasks.set(id, { status, metadata: merged, json });
      return true;
    },
  };
}
