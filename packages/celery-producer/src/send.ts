/** `sendTask`: the record first, QUEUED with the caller's metadata, then the Celery message. */
import { randomUUID } from "node:crypto";
import { ConfigurationError, type ResultStore } from "@resultstore/core";
import { SPAN_KIND, telemetryOf, validateId } from "@resultstore/core/backend";
import { celeryMessage } from "./message.js";
import type { RedisBroker, SendTaskOptions } from "./types.js";

/**
 * Records task `name` QUEUED (metadata, name, args, kwargs, queue), then publishes it to the Redis
 * broker as a Celery protocol-2 message, so a Celery worker consuming `queue` runs it and stores the
 * result with its own backend. Resolves the task id, for `store.waitFor(id)`. If publishing fails,
 * the record written here is removed again and the error is rethrown.
 *
 * When the store is traced (OpenTelemetry, see core's README), this runs in a PRODUCER span
 * `send <queue>` and the message carries its context in W3C `traceparent` headers, which Celery's
 * OpenTelemetry instrumentation continues on the worker.
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
  const telemetry = telemetryOf(store);
  const send = async () => {
    // Built before anything is written: an argument Celery could not decode fails here.
    const traceHeaders = telemetry?.inject();
    const message = celeryMessage({ ...options, taskId, name, args, kwargs, queue, traceHeaders });
    const queued = await store.markQueued(taskId, { metadata, name, args, kwargs, queue });
    try {
      await broker.lpush(queue, message);
    } catch (error) {
      if (queued.applied) await store.forget(taskId).catch(() => {});
      throw error;
    }
    return taskId;
  };
  if (!telemetry) return send();
  const attributes = {
    "messaging.system": "celery", // not a registered value; Celery's own instrumentation sets none
    "messaging.operation.type": "send",
    "messaging.operation.name": "send",
    "messaging.destination.name": queue,
    "messaging.message.id": taskId,
    "celery.task_name": name,
  };
  return telemetry.span(`send ${queue}`, SPAN_KIND.PRODUCER, attributes, send);
}
