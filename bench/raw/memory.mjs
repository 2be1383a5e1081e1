// The floor for memory://: a bare Map, the least any in-process store can do.
export async function createRaw(_url, payload) {
  const tasks = new Map();
  const counters = new Map();
  return {
    name: "Map",
    store: async (id) => void tasks.set(id, JSON.stringify({ status: "SUCCESS", result: payload })),
    get: async (id) => JSON.parse(tasks.get(id) ?? "null"),
    incr: async (key) => {
      const value = (counters.get(key) ?? 0) + 1;
      counters.set(key, value);
      return value;
    },
  };
}
