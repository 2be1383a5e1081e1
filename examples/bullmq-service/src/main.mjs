#!/usr/bin/env node
// One command starts the service: `npm start` (env below). ROLE=api or ROLE=worker runs only that
// half, for running several workers beside one API; both halves only share Redis and the store.
//
//   RESULT_BACKEND_URL  where job records live, any resultstore URL   default memory://
//                       (memory:// works only with ROLE=all: the API and worker share the process)
//   REDIS_URL           BullMQ's Redis                                   default redis://127.0.0.1:6379
//   PORT                the API's port (0: any free port)               default 3000
//   QUEUE               the BullMQ queue name                            default jobs
import { createStore } from "@resultstore/core";
import { Queue } from "bullmq";
import { createApi } from "./api.mjs";
import { startWorker } from "./worker.mjs";

const env = process.env;
const role = env.ROLE ?? "all";
const redis = new URL(env.REDIS_URL ?? "redis://127.0.0.1:6379");
const connection = {
  host: redis.hostname,
  port: Number(redis.port || 6379),
  db: Number(redis.pathname.slice(1) || 0),
  maxRetriesPerRequest: null,
};
const queueName = env.QUEUE ?? "jobs";
const store = await createStore(env.RESULT_BACKEND_URL ?? "memory://");

const closers = [];
if (role === "all" || role === "worker") {
  const worker = startWorker({ store, connection, queueName });
  closers.push(() => worker.close());
  console.log(`worker consuming ${queueName}`);
}
if (role === "all" || role === "api") {
  const queue = new Queue(queueName, { connection });
  const api = createApi({ store, queue });
  await new Promise((resolve) => api.listen(Number(env.PORT ?? 3000), "127.0.0.1", resolve));
  closers.push(
    () => new Promise((resolve) => api.close(resolve)),
    () => queue.close(),
  );
  console.log(`listening on http://127.0.0.1:${api.address().port}`);
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await store.close();
    process.exit(0);
  });
}
