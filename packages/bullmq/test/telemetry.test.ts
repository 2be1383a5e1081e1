// The trace context from `enqueue` to `withResultStore`, through a real Redis: the producer's
// spans and the worker's spans form one trace. The worker is started before any span exists, so
// its processor can only learn the producer's context from the job BullMQ stored in Redis.

import { trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { serverTarget } from "@resultstore/conformance";
import { type OtelHarness, registerOtel } from "@resultstore/conformance/telemetry";
import type { ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { enqueue, withResultStore } from "../src/index.js";
import { eventually, freshStore, Harness, redis } from "./helpers.js";

const database = serverTarget("DYNAMODB");
const PRODUCER = 3;
const CONSUMER = 4;
const CLIENT = 2;

describe.skipIf(!redis.url || !database.url)(
  `bullmq trace context ${redis.reason}${database.reason}`,
  () => {
    let otel: OtelHarness;
    let store: ResultStore;
    let harness: Harness;
    const tracer = () => trace.getTracer("test");

    beforeAll(async () => {
      otel = registerOtel();
      store = await freshStore(database.url as string);
      harness = new Harness(redis.url as string);
    });
    afterAll(async () => {
      await harness?.close();
      await store?.backend.destroy?.();
      await store?.close();
      await otel?.shutdown();
    });
    beforeEach(() => otel.reset());

    /** The spans once the worker's SUCCESS write has ended. */
    const afterSuccess = (taskId: string) =>
      eventually(async () => {
        const spans = otel.spans();
        const done = spans.some(
          (s) =>
            s.attributes["resultstore.task.id"] === taskId &&
            s.attributes["resultstore.task.state"] === "SUCCESS",
        );
        // The process span ends after the processor returned: wait for it too.
        return done && spans.some((s) => s.kind === CONSUMER) && spans;
      });

    it("a producer's request and the worker's store calls are one trace", async () => {
      const queue = harness.queue("otel");
      let seenInProcessor: string | undefined;
      harness.worker(
        queue,
        withResultStore(store, async () => {
          seenInProcessor = trace.getActiveSpan()?.spanContext().traceId;
          return { pages: 3 };
        }),
      );
      const job = await tracer().startActiveSpan("POST /reports", async (request) => {
        try {
          return await enqueue(store, queue, "reports.render", { quarter: "q3" });
        } finally {
          request.end();
        }
      });
      const spans: ReadableSpan[] = await afterSuccess(job.id as string);

      const request = spans.find((s) => s.name === "POST /reports") as ReadableSpan;
      const traceId = request.spanContext().traceId;
      expect(spans.map((s) => s.spanContext().traceId)).toEqual(spans.map(() => traceId));
      expect(seenInProcessor).toBe(traceId);

      const send = spans.find((s) => s.kind === PRODUCER) as ReadableSpan;
      const process = spans.find((s) => s.kind === CONSUMER) as ReadableSpan;
      const id = (s: ReadableSpan | undefined) => s?.spanContext().spanId;
      expect(send.name).toBe(`send ${queue.name}`);
      expect(send.parentSpanContext?.spanId).toBe(id(request));
      expect(process.name).toBe(`process ${queue.name}`);
      expect(process.parentSpanContext?.spanId).toBe(id(send));
      expect(process.attributes).toMatchObject({
        "messaging.system": "bullmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": queue.name,
        "messaging.message.id": job.id,
      });

      const writes = spans.filter((s) => s.attributes["db.operation.name"] === "storeResult");
      const byState = (state: string) =>
        writes.find((s) => s.attributes["resultstore.task.state"] === state);
      expect(byState("QUEUED")?.parentSpanContext?.spanId).toBe(id(send));
      for (const state of ["STARTED", "SUCCESS"]) {
        expect(byState(state)?.kind).toBe(CLIENT);
        expect(byState(state)?.parentSpanContext?.spanId).toBe(id(process));
        expect(byState(state)?.attributes["db.system.name"]).toBe("aws.dynamodb");
      }

      // What crossed Redis: the job's stored options carry the producer span's context.
      const stored = await queue.getJob(job.id as string);
      const metadata = stored?.opts.telemetry?.metadata as unknown as { traceparent: string };
      expect(metadata.traceparent).toBe(`00-${traceId}-${id(send)}-01`);
    });

    it("joins a trace whose context another producer wrote as JSON text", async () => {
      const queue = harness.queue("otel-json");
      harness.worker(
        queue,
        withResultStore(store, async () => 1),
      );
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const job = await queue.add("plain", null, {
        telemetry: {
          metadata: JSON.stringify({ traceparent: `00-${traceId}-00f067aa0ba902b7-01` }),
        },
      });
      const spans = await afterSuccess(job.id as string);
      const process = spans.find((s) => s.kind === CONSUMER);
      expect(process?.spanContext().traceId).toBe(traceId);
      expect(process?.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
    });
  },
);
