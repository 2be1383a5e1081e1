/**
 * OpenTelemetry against the real DynamoDB server, with the SDK registered globally as an
 * application registers it and the store built by `createStore` with no telemetry option: spans
 * and metrics carry the stable database attribute names and the store's outcomes.
 */
import { serverTarget } from "@resultstore/conformance";
import { type OtelHarness, registerOtel } from "@resultstore/conformance/telemetry";
import {
  BackendConnectionError,
  createStore,
  type ResultStore,
  ValueTooLargeError,
} from "@resultstore/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as dynamodb from "../src/index.js";
import { freshNamespace } from "./helpers.js";

const target = serverTarget("DYNAMODB");

// The stable names, spelled out: a rename in the code must fail here.
const SYSTEM = "db.system.name";
const OPERATION = "db.operation.name";
const COLLECTION = "db.collection.name";
const ADDRESS = "server.address";
const PORT = "server.port";
const ERROR_TYPE = "error.type";
const CLIENT = 2; // SpanKind.CLIENT
const ERROR = 2; // SpanStatusCode.ERROR

describe.skipIf(!target.url)(`dynamodb telemetry ${target.reason}`, () => {
  const url = target.url as string;
  const server = new URL(url);
  let otel: OtelHarness;
  let store: ResultStore;
  let table: string;

  beforeAll(async () => {
    otel = registerOtel();
    store = await createStore(url, {
      backends: [dynamodb],
      backendOptions: { namespace: freshNamespace("otel") },
    });
    table = (store.backend as dynamodb.DynamoDBBackend).table;
  });
  afterAll(async () => {
    await store?.backend.destroy?.();
    await store?.close();
    await otel?.shutdown();
  });
  beforeEach(() => otel.reset());

  it("makes a CLIENT span per call named after the operation and the table", async () => {
    await store.markQueued("o1", { metadata: { tenant: "acme" } });
    await store.markStarted("o1");
    await store.markSuccess("o1", { pages: 3 });
    await store.markStarted("o1"); // refused: SUCCESS is final
    await store.getMeta("o1");

    const spans = otel.spans();
    expect(spans.map((s) => s.name)).toEqual([
      ...Array(4).fill(`storeResult ${table}`),
      `getMeta ${table}`,
    ]);
    for (const span of spans) {
      expect(span.kind).toBe(CLIENT);
      expect(span.instrumentationScope.name).toBe("@resultstore/core");
      expect(span.attributes).toMatchObject({
        [SYSTEM]: "aws.dynamodb",
        [COLLECTION]: table,
        [ADDRESS]: server.hostname,
        [PORT]: Number(server.port),
      });
      expect(span.attributes).not.toHaveProperty("resultstore.task.result");
      expect(span.attributes).not.toHaveProperty("resultstore.task.metadata");
    }
    const outcomes = spans
      .slice(0, 4)
      .map((s) => [
        s.attributes[OPERATION],
        s.attributes["resultstore.task.state"],
        s.attributes["resultstore.write.applied"],
      ]);
    expect(outcomes).toEqual([
      ["storeResult", "QUEUED", true],
      ["storeResult", "STARTED", true],
      ["storeResult", "SUCCESS", true],
      ["storeResult", "STARTED", false],
    ]);
    expect(spans[4]?.attributes).toMatchObject({
      [OPERATION]: "getMeta",
      "resultstore.task.id": "o1",
      "resultstore.task.state": "SUCCESS",
    });
  });

  it("a chord's completion is one INTERNAL span over the CLIENT write that claims it", async () => {
    await store.onChordPartReturn({ groupId: "g-otel", taskId: "m1", size: 1 });
    const spans = otel.spans();
    const chord = spans.find((s) => s.attributes[OPERATION] === "onChordPartReturn");
    const claims = spans.filter((s) => s.attributes[OPERATION] === "storeResult");
    expect(chord?.kind).toBe(0); // INTERNAL
    expect(chord?.attributes).toMatchObject({ "resultstore.chord.complete": true });
    expect(claims).toHaveLength(1);
    for (const span of claims) {
      expect(span.kind).toBe(CLIENT);
      expect(span.attributes["resultstore.write.applied"]).toBe(true);
      expect(span.parentSpanContext?.spanId).toBe(chord?.spanContext().spanId);
      expect(span.spanContext().traceId).toBe(chord?.spanContext().traceId);
    }
  });

  it("records error.type and an error status when a call fails", async () => {
    // Over DynamoDB's 400 KB item limit: refused before anything is sent.
    const big = "x".repeat(500_000);
    await expect(store.markSuccess("o-big", big)).rejects.toBeInstanceOf(ValueTooLargeError);
    // A port nothing listens on: the driver's connection error, typed by the backend
    // (BackendUnavailableError, a BackendConnectionError that says nothing was sent).
    const dead = await createStore("dynamodb://k:s@127.0.0.1:1/none", {
      backends: [dynamodb],
      backendOptions: { manageTable: false },
    });
    await expect(dead.getMeta("o-x")).rejects.toBeInstanceOf(BackendConnectionError);
    await dead.close();

    const [tooBig, unreachable] = otel.spans();
    expect(tooBig?.attributes[ERROR_TYPE]).toBe("ValueTooLargeError");
    expect(tooBig?.status.code).toBe(ERROR);
    expect(unreachable?.attributes).toMatchObject({
      [ERROR_TYPE]: "BackendUnavailableError", // the concrete class: nothing was sent
      [ADDRESS]: "127.0.0.1",
      [PORT]: 1,
    });
    expect(unreachable?.status.code).toBe(ERROR);
  });

  it("records db.client.operation.duration, transitions and refusals as metrics", async () => {
    await store.markSuccess("o2", 1);
    await store.markRetry("o2", new Error("late")); // refused
    const metrics = await otel.metrics();

    const duration = metrics.get("db.client.operation.duration");
    expect(duration?.descriptor.unit).toBe("s");
    const points = duration?.dataPoints ?? [];
    const writes = points.find(
      (p) => p.attributes[OPERATION] === "storeResult" && !p.attributes[ERROR_TYPE],
    );
    expect(writes?.attributes).toEqual({
      [SYSTEM]: "aws.dynamodb",
      [OPERATION]: "storeResult",
      [COLLECTION]: table,
      [ADDRESS]: server.hostname,
      [PORT]: Number(server.port),
    });
    const histogram = writes?.value as { count: number; sum: number };
    expect(histogram.count).toBeGreaterThanOrEqual(6);
    expect(histogram.sum).toBeGreaterThan(0);
    expect(histogram.sum / histogram.count).toBeLessThan(30); // seconds, not milliseconds
    const failures = points.filter((p) => p.attributes[ERROR_TYPE]);
    expect(failures.map((p) => p.attributes[ERROR_TYPE]).sort()).toEqual([
      "BackendUnavailableError",
      "ValueTooLargeError",
    ]);
    // The INTERNAL chord span is not a database call: it has no duration point.
    expect(points.some((p) => p.attributes[OPERATION] === "onChordPartReturn")).toBe(false);

    const transitions = metrics.get("resultstore.task.transitions")?.dataPoints ?? [];
    const count = (state: string, applied: boolean) =>
      transitions.find(
        (p) =>
          p.attributes["resultstore.task.state"] === state &&
          p.attributes["resultstore.write.applied"] === applied &&
          p.attributes[SYSTEM] === "aws.dynamodb",
      )?.value;
    expect(count("SUCCESS", true)).toBe(3); // o1, the chord's claim, o2
    expect(count("STARTED", false)).toBe(1);
    expect(count("RETRY", false)).toBe(1);
    const refused = metrics.get("resultstore.write.refused")?.dataPoints ?? [];
    expect(refused.map((p) => [p.attributes["resultstore.task.state"], p.value]).sort()).toEqual([
      ["RETRY", 1],
      ["STARTED", 1],
    ]);
  });
});
