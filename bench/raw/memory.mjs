// The floor for memory://: a bare Map, the least any in-process store can do.
export async function createRaw(_url, payload) {
  const tasks = new Map();
  const counters = new Map();
  const write = async (id, status, result, metadata) =>
    void tasks.set(id, JSON.stringify({ status, result, ...(metadata ? { metadata } : {}) }));
  return {
    name: "Map",
    write,
    store: (id) => write(id, "SUCCESS", payload),
    getMany: async (ids) => ids.map((id) => JSON.parse(tasks.get(id) ?? "null")),
    get: async (id) => JSON.parse(tasks.get(id) ?? "null"),
    incr: async (key) => {
      const value = (counters.get(key) ?? 0) + 1;
      counters.set(key, value);
      return value;
    },
  };
}
