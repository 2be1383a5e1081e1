// Consul's hand-written equivalent: KV has no query language and no index, so the native query
// is the scan done with the raw HTTP API in one request (`GET /v1/kv/<prefix>?recurse`, every
// value base64 in one JSON answer), each value parsed and matched here, the newest 100 kept.
import http from "node:http";
import { FIND_STATE, FIND_TENANT, PAGE, pageOf } from "../lib/find-mix.mjs";

const TASK_KEY = "celery-task-meta-";

export async function createNative(url, { store }) {
  const { host } = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const prefix = `${store.backend.keyPrefix}${TASK_KEY}`;
  const scan = () =>
    new Promise((resolve, reject) => {
      const path = `/v1/kv/${encodeURI(prefix)}?recurse=true`;
      http
        .get(`http://${host}${path}`, { agent }, (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            if (res.statusCode !== 200) return reject(new Error(`GET ${path}: ${res.statusCode}`));
            const entries = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            resolve(
              entries.map(({ Key, Value }) => ({
                taskId: Key.slice(prefix.length),
                value: JSON.parse(Buffer.from(Value ?? "", "base64").toString("utf8")),
              })),
            );
          });
        })
        .on("error", reject);
    });
  return {
    name: "GET ?recurse, matched in the client",
    page: async (last) => {
      const matches = (await scan())
        .filter(
          ({ value }) => value.status === FIND_STATE && value.metadata?.tenant === FIND_TENANT,
        )
        .map(({ taskId, value }) => ({ ...value, taskId, time: Date.parse(value.updated_at) }));
      return pageOf(matches, PAGE, last);
    },
    count: async () => {
      const counts = {};
      for (const { value } of await scan())
        if (value.metadata?.tenant === FIND_TENANT)
          counts[value.status] = (counts[value.status] ?? 0) + 1;
      return counts;
    },
    close: () => agent.destroy(),
  };
}
