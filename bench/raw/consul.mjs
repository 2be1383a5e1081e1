// The floor for consul://: Consul's HTTP API with a keep-alive agent, nothing else. store is an
// unguarded PUT of the Celery-shaped value (no session), get a plain GET (default consistency),
// getMany one /v1/txn of KV get ops per 64 ids (Consul's limit per txn), incr the minimal exact
// increment Consul allows: GET then PUT ?cas=<ModifyIndex>, retried on false (Consul has no atomic
// increment).
import { celeryValue, consulApi } from "../lib/clients.mjs";

export async function createRaw(url, payload) {
  const { root, call, callApi, idle, close } = consulApi(url, "bench-raw");
  const key = (id) => `celery-task-meta-${id}`;
  const decode = (base64) => JSON.parse(Buffer.from(base64, "base64").toString("utf8"));
  const write = (id, status, result, metadata) =>
    call("PUT", key(id), celeryValue(id, status, result, metadata));
  const txnGet = async (batch) => {
    const ops = batch.map((id) => ({ KV: { Verb: "get", Key: `${root}/${key(id)}` } }));
    const { body } = await callApi("PUT", "txn", JSON.stringify(ops));
    return JSON.parse(body).Results.map((r) => decode(r.KV.Value));
  };
  return {
    name: "HTTP API",
    write,
    store: (id) => write(id, "SUCCESS", payload),
    get: async (id) => {
      const { status, body } = await call("GET", key(id));
      return status === 200 ? decode(JSON.parse(body)[0].Value) : null;
    },
    getMany: async (ids) => {
      const batches = [];
      for (let i = 0; i < ids.length; i += 64) batches.push(ids.slice(i, i + 64));
      return (await Promise.all(batches.map(txnGet))).flat();
    },
    incr: async (counter) => {
      for (;;) {
        const { status, body } = await call("GET", counter);
        const entry = status === 200 ? JSON.parse(body)[0] : null;
        const value =
          (entry?.Value ? Number(Buffer.from(entry.Value, "base64").toString("utf8")) : 0) + 1;
        const put = await call("PUT", `${counter}?cas=${entry?.ModifyIndex ?? 0}`, String(value));
        if (put.body.trim() === "true") return value;
      }
    },
    idle,
    close,
  };
}
