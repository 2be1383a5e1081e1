/** `sendTask`: the record first, QUEUED with the caller's metadata, then the Celery message. */
import { randomUUID } from "node:crypto";
import { ConfigurationError, type ResultStore, validateId } from "@resultstore/core";
import { celeryMessage } from "./message.js";
import type { RedisBroker, SendTaskOptions } from "./types.js";

/**
 * Records task `name` QUEUED (metadata, name, args, kwargs, queue), then publishes it to the Redis
 * broker as a Celery protocol-2 message, so a Celery worker consuming `queue` runs it and stores the
 * result with its own backend. Resolves the task id, for `store.waitFor(id)`. If publishing fails,
 * the record written here is removed again and the error is rethrown.
 */
export async function sendTask(
  store: ResultStore,
  broker: RedisBroker,
  name: string,
  options: SendTaskOptions = {},
): Promise<string> {
  const { taskId = randomUUID(), args = [], kwargs = {}, queue = "celery", metadata } = options;
  validateId(taskId);
  if (!name) throw new ConfigurationError("celery-producer", "A task needs a name.");
  if (!queue) throw new ConfigurationError("celery-producer", "A task needs a queue.");
  // Built before anything is written: an argument Celery could not decode fails here.
  const message = celeryMessage({ ...options, taskId, name, args, kwargs, queue });
  const queued = await store.markQueued(taskId, { metadata, name, args, kwargs, queue });
  try {
    await broker.lpush(queue, message);
  } catch (error) {
    if (queued.applied) await store.forget(taskId).catch(() => {});
    throw error;
  }
  return taskId;
}
