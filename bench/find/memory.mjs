// memory://'s hand-written equivalent: what an in-process store written for this one query would
// hold, an array in find's order of the fields the query reads (state, tenant, time) beside each
// record's JSON text (as bench/raw/memory.mjs keeps records), walked from the newest end.
import { FIND_STATE, FIND_TENANT, newestFirst, PAGE } from "../lib/find-mix.mjs";

/** Copies the store's records (untimed) into the array; `page` and `count` read only that. */
export async function createNative(_url, { store, records }) {
  const entries = [];
  const ids = Array.from({ length: records }, (_, i) => `find-${String(i).padStart(8, "0")}`);
  for (let i = 0; i < ids.length; i += 1000) {
    for (const meta of await store.getMany(ids.slice(i, i + 1000))) {
      entries.push({
        taskId: meta.taskId,
        status: meta.status,
        tenant: meta.metadata.tenant,
        time: meta.updatedAt.getTime(),
        json: JSON.stringify(meta),
      });
    }
  }
  entries.sort((a, b) => newestFirst(b, a)); // oldest first: the newest is at the end
  /** The index of the first entry at or past `last`, newest first (a binary search). */
  const startBelow = (last) => {
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (newestFirst(entries[mid], last) > 0) low = mid + 1;
      else high = mid;
    }
    return low - 1;
  };
  return {
    name: "array walk",
    page: async (last) => {
      const page = [];
      for (let i = last ? startBelow(last) : entries.length - 1; i >= 0; i--) {
        const entry = entries[i];
        if (entry.status !== FIND_STATE || entry.tenant !== FIND_TENANT) continue;
        page.push({ ...JSON.parse(entry.json), time: entry.time });
        if (page.length === PAGE) break;
      }
      return page;
    },
    count: async () => {
      const counts = {};
      for (const { status, tenant } of entries)
        if (tenant === FIND_TENANT) counts[status] = (counts[status] ?? 0) + 1;
      return counts;
    },
  };
}
