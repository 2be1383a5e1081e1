// The worker: BullMQ's Worker with the processor wrapped by @resultstore/bullmq, which records
// STARTED, SUCCESS (the return value), RETRY, FAILURE (error and stack) and REVOKED in the store.
import { withResultStore } from "@resultstore/bullmq";
import { UnrecoverableError, Worker } from "bullmq";
import { TASKS } from "./tasks.mjs";

async function runTask(job) {
  const task = TASKS[job.name];
  // An unknown name will never work: fail at once instead of retrying.
  if (!task) throw new UnrecoverableError(`no task named ${JSON.stringify(job.name)}`);
  return task(job.data ?? {});
}

/** Starts a worker on `queueName`; close it with `worker.close()`. */
export function startWorker({ store, connection, queueName, concurrency = 4 }) {
  const worker = new Worker(queueName, withResultStore(store, runTask), {
    connection,
    concurrency,
  });
  worker.on("error", (error) => console.error(`[worker] ${error.message}`));
  return worker;
}
