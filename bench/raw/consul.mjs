// The floor for consul://: Consul's HTTP API with a keep-alive agent, nothing else. store is an
// unguarded PUT of the Celery-shaped value (no session), get a plain GET (default consistency), and
// incr the minimal exact increment Consul allows: GET then PUT ?cas=<ModifyIndex>, retried on false
// (Consul has no atomic increment).
import http from "node:http";

export async function createRaw(url, payload) {
  const { host } = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const prefix = `bench-raw-${Date.now()}`;
  const call = (method, path, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        `http://${host}/v1/kv/${prefix}/${path}`,
        { method, agent },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return {
    name: "HTTP API",
    store: async (id) => {
      const value = JSON.stringify({
        status: "SUCCESS",
        result: payload,
        traceback: null,
        children: [],
        date_done: new Date().toISOString(),
        task_id: id,
      });
      await call("PUT", `celery-task-meta-${id}`, value);
    },
    get: async (id) => {
      const { status, body } = await call("GET", `celery-task-meta-${id}`);
      return status === 200
        ? JSON.parse(Buffer.from(JSON.parse(body)[0].Value, "base64").toString("utf8"))
        : null;
    },
    incr: async (key) => {
      for (;;) {
        const { status, body } = await call("GET", key);
        const entry = status === 200 ? JSON.parse(body)[0] : null;
        const value =
          (entry?.Value ? Number(Buffer.from(entry.Value, "base64").toString("utf8")) : 0) + 1;
        const put = await call("PUT", `${key}?cas=${entry?.ModifyIndex ?? 0}`, String(value));
        if (put.body.trim() === "true") return value;
      }
    },
    close: async () => {
      await call("DELETE", "?recurse");
      agent.destroy();
    },
  };
}
