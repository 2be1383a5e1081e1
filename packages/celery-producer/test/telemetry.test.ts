// The trace context from `sendTask` to a REAL Celery worker: the message carries W3C `traceparent`
// in its headers, and the worker sees it as `task.request.traceparent`, which is exactly where
// Celery's OpenTelemetry instrumentation (opentelemetry-instrumentation-celery) extracts the
// parent context from with `getattr(request, key)`.

import { trace } from "@opentelemetry/api";
import { type CeleryWorker, ensureCeleryEnv, startCeleryWorker } from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { type OtelHarness, registerOtel } from "@resultstore/conformance/telemetry";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendTask } from "../src/index.js";
import { databases, destroy, freshNamespace, type Pairing } from "./databases.js";

const redis = serverTarget("REDIS");
const mongo = databases().find((d) => d.name === "mongo");
const PRODUCER = 3;

describe.skipIf(!redis.url || !mongo?.target.url)(
  `Celery trace context ${redis.reason}${mongo?.target.reason ?? ""}`,
  () => {
    const queue = `rs-otel-${freshNamespace()}`;
    let otel: OtelHarness;
    let pairing: Pairing;
    let worker: CeleryWorker;
    let broker: Redis;

    beforeAll(async () => {
      await ensureCeleryEnv({ log: (line) => console.error(`[celery-venv] ${line}`) });
      otel = registerOtel();
      broker = new Redis(redis.url as string);
      pairing = await (mongo?.pair(
        mongo.target.url as string,
        freshNamespace(),
      ) as Promise<Pairing>);
      worker = await startCeleryWorker({
        url: pairing.celeryUrl,
        broker: redis.url as string,
        queue,
        settings: pairing.settings,
      });
    }, 900_000);
    afterAll(async () => {
      await worker?.stop();
      await broker?.del(queue, `_kombu.binding.${queue}`);
      await broker?.quit();
      if (pairing) await destroy(pairing.store);
      await otel?.shutdown();
    });

    it("the worker's task.request.traceparent is the producer span's context", async () => {
      const { store } = pairing;
      const taskId = await trace.getTracer("test").startActiveSpan("POST /render", async (span) => {
        try {
          return await sendTask(store, broker, "e2e.request_attribute", {
            args: ["traceparent"],
            queue,
          });
        } finally {
          span.end();
        }
      });
      await worker.waitForTask(taskId);
      const meta = await store.waitFor(taskId, { timeout: 30_000, interval: 100 });

      const send = otel.spans().find((s) => s.kind === PRODUCER);
      const { traceId, spanId } = send?.spanContext() ?? {};
      expect(send?.name).toBe(`send ${queue}`);
      expect(send?.attributes).toMatchObject({
        "messaging.destination.name": queue,
        "messaging.message.id": taskId,
      });
      expect(meta.status).toBe("SUCCESS");
      expect(meta.result).toBe(`00-${traceId}-${spanId}-01`);
    });
  },
);
