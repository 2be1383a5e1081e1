/**
 * Telemetry on memory://, with the SDK's in-memory exporters given to the store as its providers
 * (the global ones stay unregistered, as in a process whose SDK traces something else).
 */
import * as api from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { endpointOf, telemetryOf } from "../src/backend.js";
import {
  InvalidIdError,
  MemoryBackend,
  ResultStore,
  type ResultStoreOptions,
} from "../src/index.js";
import { TRACED_OPERATIONS } from "../src/telemetry-operations.js";

const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(spans)],
});
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const meterProvider = new MeterProvider({ readers: [reader] });
// Parent/child links need a context manager, as every SDK setup registers one.
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
afterAll(() => api.context.disable());

const traced = (options: ResultStoreOptions["telemetry"] = {}) =>
  new ResultStore(new MemoryBackend(), {
    telemetry: options && { tracerProvider, meterProvider, ...options },
  });

const named = (name: string) => spans.getFinishedSpans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

async function metric(name: string) {
  metricExporter.reset();
  await reader.forceFlush();
  const all = metricExporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
  return all.find((m) => m.descriptor.name === name);
}

beforeEach(() => spans.reset());

describe("telemetry on memory://", () => {
  it("makes one CLIENT span per call with the stable database attributes and the outcome", async () => {
    const store = traced();
    await store.markQueued("t1", { metadata: { tenant: "acme" } });
    await store.markSuccess("t1", { pages: 3 });
    await store.markStarted("t1"); // refused: SUCCESS is final
    const writes = named("storeResult");
    expect(writes.map((s) => s.kind)).toEqual([2, 2, 2].map(() => api.SpanKind.CLIENT));
    expect(writes.map((s) => s.attributes)).toEqual([
      expect.objectContaining({
        "db.system.name": "memory",
        "db.operation.name": "storeResult",
        "resultstore.task.id": "t1",
        "resultstore.task.state": "QUEUED",
        "resultstore.write.applied": true,
      }),
      expect.objectContaining({
        "resultstore.task.state": "SUCCESS",
        "resultstore.write.applied": true,
      }),
      expect.objectContaining({
        "resultstore.task.state": "STARTED",
        "resultstore.write.applied": false,
      }),
    ]);
    // No values unless asked for.
    for (const span of writes) {
      expect(Object.keys(span.attributes)).not.toContain("resultstore.task.result");
      expect(Object.keys(span.attributes)).not.toContain("resultstore.task.metadata");
    }
  });

  it("traces every call, with composite calls as INTERNAL parents of their CLIENT calls", async () => {
    const store = traced();
    await store.markSuccess("a", 1);
    await store.getMeta("a");
    await store.getMany(["a", "b"]);
    await store.waitFor("a", { timeout: 1000 });
    await store.incr("k");
    await store.saveGroup("g", ["a", "b"]);
    await store.restoreGroup("g");
    await store.deleteGroup("g");
    await store.onChordPartReturn({ groupId: "c", taskId: "a", size: 1 });
    await store.find({ state: "SUCCESS" });
    await store.countByState();
    await store.cleanup();
    await store.forget("a");
    const names = spans.getFinishedSpans().map((s) => s.name);
    for (const name of Object.keys(TRACED_OPERATIONS)) expect(names).toContain(name);

    const [wait] = named("waitFor");
    const [chord] = named("onChordPartReturn");
    expect(wait?.kind).toBe(api.SpanKind.INTERNAL);
    expect(chord?.kind).toBe(api.SpanKind.INTERNAL);
    expect(wait?.attributes).toMatchObject({ "resultstore.task.state": "SUCCESS" });
    expect(chord?.attributes).toMatchObject({
      "resultstore.chord.complete": true,
      "resultstore.chord.count": 1,
    });
    const polls = named("getMeta").filter((s) => parentOf(s) === wait?.spanContext().spanId);
    expect(polls).toHaveLength(1);
    const claims = named("storeResult").filter((s) => parentOf(s) === chord?.spanContext().spanId);
    expect(claims.map((s) => s.attributes["resultstore.write.applied"])).toEqual([true]);
    expect(named("incr")[0]?.attributes["resultstore.counter.value"]).toBe(1);
    expect(named("getMany")[0]?.attributes["db.operation.batch.size"]).toBe(2);
  });

  it("every public method of ResultStore is traced or delegates to one that is", () => {
    const delegating = [
      "markQueued",
      "markStarted",
      "markSuccess",
      "markFailure",
      "markRetry",
      "markRevoked",
    ];
    const untraced = ["constructor", "close", "isClosed"];
    const methods = Object.getOwnPropertyNames(ResultStore.prototype).filter(
      (name) => !untraced.includes(name) && !delegating.includes(name),
    );
    // Private helpers are on the prototype too; they are what the public calls are made of.
    const helpers = ["buildWrite", "expiresAt", "assertOpen", "call", "claimChord"];
    expect(methods.filter((m) => !helpers.includes(m)).sort()).toEqual(
      Object.keys(TRACED_OPERATIONS).sort(),
    );
  });

  it("records error.type and an error status on failure", async () => {
    const store = traced();
    await expect(store.getMeta("bad/id")).rejects.toBeInstanceOf(InvalidIdError);
    const [span] = named("getMeta");
    expect(span?.attributes["error.type"]).toBe("InvalidIdError");
    expect(span?.status.code).toBe(api.SpanStatusCode.ERROR);
    expect(span?.events.map((e) => e.name)).toEqual(["exception"]);
  });

  it("puts results and metadata on spans only when captureValues is set", async () => {
    const store = traced({ captureValues: true });
    await store.markQueued("v", { metadata: { tenant: "acme" } });
    await store.markSuccess("v", { pages: 3 });
    await store.getMeta("v");
    const [queued, success] = named("storeResult");
    expect(queued?.attributes["resultstore.task.metadata"]).toBe('{"tenant": "acme"}');
    expect(success?.attributes["resultstore.task.result"]).toBe('{"pages": 3}');
    expect(named("getMeta")[0]?.attributes).toMatchObject({
      "resultstore.task.result": '{"pages": 3}',
      "resultstore.task.metadata": '{"tenant": "acme"}',
    });
  });

  it("records db.client.operation.duration and counts transitions and refusals", async () => {
    const store = traced();
    await store.markStarted("m");
    await store.markSuccess("m", 1);
    await store.markRetry("m", new Error("late"));
    await store.markRetry("m", new Error("later"));
    await expect(store.getMeta("")).rejects.toBeInstanceOf(InvalidIdError);

    const duration = await metric("db.client.operation.duration");
    expect(duration?.descriptor.unit).toBe("s");
    const points = duration?.dataPoints as DataPoint<Histogram>[];
    const writes = points.find(
      (p) => p.attributes["db.operation.name"] === "storeResult" && !p.attributes["error.type"],
    );
    expect(writes?.value.count).toBeGreaterThanOrEqual(4);
    expect(writes?.attributes["db.system.name"]).toBe("memory");
    const failed = points.find((p) => p.attributes["error.type"] === "InvalidIdError");
    expect(failed?.attributes["db.operation.name"]).toBe("getMeta");

    const transitions = (await metric("resultstore.task.transitions"))?.dataPoints ?? [];
    const count = (state: string, applied: boolean) =>
      transitions.find(
        (p) =>
          p.attributes["resultstore.task.state"] === state &&
          p.attributes["resultstore.write.applied"] === applied,
      )?.value;
    expect(count("RETRY", false)).toBeGreaterThanOrEqual(2);
    expect(count("SUCCESS", true)).toBeGreaterThanOrEqual(1);
    const refused = (await metric("resultstore.write.refused"))?.dataPoints ?? [];
    const retryRefused = refused.find((p) => p.attributes["resultstore.task.state"] === "RETRY");
    expect(retryRefused?.value).toBeGreaterThanOrEqual(2);
  });

  it("follows a global provider registered after the store was built", async () => {
    const store = new ResultStore(new MemoryBackend(), { telemetry: { api } });
    await store.markStarted("late"); // nothing registered yet: no span anywhere
    expect(spans.getFinishedSpans()).toHaveLength(0);
    api.trace.setGlobalTracerProvider(tracerProvider);
    try {
      await store.markSuccess("late", 1);
      expect(named("storeResult")).toHaveLength(1);
    } finally {
      api.trace.disable();
    }
  });

  it("telemetry: false leaves the store as it is", () => {
    const store = traced(false);
    expect(Object.hasOwn(store, "storeResult")).toBe(false);
    expect(telemetryOf(store)).toBeNull();
    expect(telemetryOf(traced())).not.toBeNull();
  });
});

describe("endpointOf", () => {
  it("reads server.address and server.port from the forms backends are given", () => {
    expect(endpointOf("http://127.0.0.1:8000")).toEqual({
      serverAddress: "127.0.0.1",
      serverPort: 8000,
    });
    expect(endpointOf("https://acct.documents.azure.com/", 443)).toEqual({
      serverAddress: "acct.documents.azure.com",
      serverPort: 443,
    });
    expect(endpointOf("db1:9043", 9042)).toEqual({ serverAddress: "db1", serverPort: 9043 });
    expect(endpointOf("[::1]:27017")).toEqual({ serverAddress: "::1", serverPort: 27017 });
    expect(endpointOf("node")).toEqual({ serverAddress: "node" });
    expect(endpointOf(undefined)).toEqual({});
  });
});
