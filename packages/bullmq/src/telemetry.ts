/**
 * The trace context from producer to worker. It travels in the job's `opts.telemetry.metadata`,
 * BullMQ's own field for it, in the form bullmq-otel writes there (the propagator's headers as an
 * object, `{ traceparent, tracestate }` with the W3C propagator): a job published by `enqueue` joins
 * a worker instrumented by bullmq-otel, and one published by a bullmq-otel queue joins
 * `withResultStore`'s spans. Everything here is a no-op when the store is not traced.
 */
import type { ResultStore } from "@resultstore/core";
import { SPAN_KIND, telemetryOf } from "@resultstore/core/backend";
import type { Job, JobsOptions } from "bullmq";

/** Not a registered `messaging.system` value; the name bullmq-otel users see elsewhere. */
const SYSTEM = "bullmq";

/** Runs `publish` in a PRODUCER span `send <queue>` (when traced), the context its jobs carry. */
export function publishSpan<T>(
  store: ResultStore,
  queueName: string,
  messageId: string | undefined,
  publish: () => Promise<T>,
): Promise<T> {
  const telemetry = telemetryOf(store);
  if (!telemetry) return publish();
  const attributes = {
    "messaging.system": SYSTEM,
    "messaging.operation.type": "send",
    "messaging.operation.name": "send",
    "messaging.destination.name": queueName,
    "messaging.message.id": messageId,
  };
  return telemetry.span(`send ${queueName}`, SPAN_KIND.PRODUCER, attributes, publish);
}

/** `opts` with the active trace context in `telemetry.metadata`, unless the caller set or omitted one. */
export function withTraceContext<O extends JobsOptions>(store: ResultStore, opts: O): O {
  const telemetry = telemetryOf(store);
  if (!telemetry || opts.telemetry?.metadata || opts.telemetry?.omitContext) return opts;
  const carrier = telemetry.inject();
  if (Object.keys(carrier).length === 0) return opts; // no active span, or no propagator
  // BullMQ types the field as a string; bullmq-otel stores the carrier object, and so do we.
  return { ...opts, telemetry: { ...opts.telemetry, metadata: carrier as unknown as string } };
}

/**
 * Runs one delivery in a CONSUMER span `process <queue>` whose parent is the context the job
 * carries (from `enqueue` or bullmq-otel), so the worker's store calls join the producer's trace.
 */
export function processSpan<T>(store: ResultStore, job: Job, run: () => Promise<T>): Promise<T> {
  const telemetry = telemetryOf(store);
  if (!telemetry) return run();
  const carrier = carrierOf(job.opts.telemetry?.metadata);
  const attributes = {
    "messaging.system": SYSTEM,
    "messaging.operation.type": "process",
    "messaging.operation.name": "process",
    "messaging.destination.name": job.queueName,
    "messaging.message.id": job.id,
  };
  const parent = carrier ? telemetry.extract(carrier) : undefined;
  return telemetry.span(`process ${job.queueName}`, SPAN_KIND.CONSUMER, attributes, run, parent);
}

/** The carrier object, whether stored as an object (bullmq-otel, us) or as JSON text. */
function carrierOf(metadata: unknown): Record<string, unknown> | undefined {
  if (metadata && typeof metadata === "object") return metadata as Record<string, unknown>;
  if (typeof metadata !== "string" || !metadata.startsWith("{")) return undefined;
  try {
    return JSON.parse(metadata) as Record<string, unknown>;
  } catch {
    return undefined; // someone else's metadata format: start a trace of our own
  }
}
