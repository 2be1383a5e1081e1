// The HTTP API (node:http, no framework):
//   POST   /jobs       {"name", "data"?, "metadata"?, "attempts"?, "delayMs"?}
//                       → 202 {"id", "status": "QUEUED"}
//   GET    /jobs/:id   → 200 {"id", "status", "result", "error", "metadata", ...} or 404
//   DELETE /jobs/:id   → 200 {"id", "status": "REVOKED"} or 409 when it already finished
// Every job is recorded QUEUED with its metadata before BullMQ sees it (enqueue), so a GET right
// after the POST always finds it.
import { createServer } from "node:http";
import { enqueue, revokeJob } from "@resultstore/bullmq";
import { ResultStoreError } from "@resultstore/core";
import { TASKS } from "./tasks.mjs";

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Creates (does not start) the HTTP server. */
export function createApi({ store, queue }) {
  return createServer((req, res) => {
    route(store, queue, req)
      .then(([status, body]) => send(res, status, body))
      .catch((error) => {
        // Bad input (an invalid id or metadata key) is the caller's fault; nothing was stored.
        const status =
          error instanceof HttpError ? error.status : error instanceof ResultStoreError ? 400 : 500;
        if (status === 500) console.error(error);
        send(res, status, { error: error.message });
      });
  });
}

async function route(store, queue, req) {
  const url = new URL(req.url ?? "/", "http://localhost");
  const match = url.pathname.match(/^\/jobs(?:\/([^/]+))?$/);
  if (!match) throw new HttpError(404, "not found");
  const id = match[1] && decodeURIComponent(match[1]);
  if (!id && req.method === "POST") return startJob(store, queue, await readJson(req));
  if (id && req.method === "GET") return readJob(store, id);
  if (id && req.method === "DELETE") return cancelJob(store, queue, id);
  throw new HttpError(405, `${req.method} not allowed on ${url.pathname}`);
}

async function startJob(store, queue, body) {
  const { name, data = {}, metadata = {}, attempts = 1, delayMs = 0 } = body ?? {};
  if (typeof name !== "string" || !(name in TASKS)) {
    throw new HttpError(400, `"name" must be one of ${Object.keys(TASKS).join(", ")}`);
  }
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 10) {
    throw new HttpError(400, '"attempts" must be an integer from 1 to 10');
  }
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 86_400_000) {
    throw new HttpError(400, '"delayMs" must be an integer from 0 to 86400000');
  }
  const job = await enqueue(store, queue, name, data, {
    metadata,
    attempts,
    delay: delayMs,
    removeOnComplete: 1000, // BullMQ may forget finished jobs: the store keeps their records
    removeOnFail: 1000,
  });
  return [202, { id: job.id, status: "QUEUED" }];
}

async function readJob(store, id) {
  const meta = await store.getMeta(id);
  if (meta.status === "PENDING") throw new HttpError(404, `no job ${id}`);
  const failed = ["FAILURE", "RETRY", "REVOKED"].includes(meta.status);
  return [
    200,
    {
      id,
      status: meta.status,
      result: failed ? null : meta.result,
      error: failed ? meta.result : null,
      traceback: meta.traceback,
      metadata: meta.metadata,
      name: meta.name ?? null,
      data: meta.args?.[0] ?? null,
      retries: meta.retries ?? 0,
      worker: meta.worker ?? null,
      finishedAt: meta.dateDone?.toISOString() ?? null,
    },
  ];
}

async function cancelJob(store, queue, id) {
  const outcome = await revokeJob(store, queue, id);
  if (!outcome.applied) throw new HttpError(409, `job ${id} already finished`);
  return [200, { id, status: "REVOKED" }];
}

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, "body too large");
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch {
    throw new HttpError(400, "body is not JSON");
  }
}

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
