import assert from "node:assert/strict";
import { PyDecimal, ValueTooLargeError } from "@resultstore/core";
import { measureWrite } from "@resultstore/core/backend";
import { assertPersisted, defineGroup, id } from "./context.js";

/** Results round-trip through the codec: JSON, kombu's typed markers, big integers, exceptions. */
export const resultTests = defineGroup("results", (ctx, api, options) => {
  const t = options.timeoutMs;
  const values: [string, unknown][] = [
    ["null", null],
    ["zero", 0],
    ["a negative float", -1.5],
    ["a large float", 1e300],
    ["booleans", [true, false]],
    ["unicode text", 'snow ☃, clef 𝄞, é, 中文, \u2028, quote " and backslash \\'],
    ["an empty string", ""],
    ["nested JSON", { a: [1, { b: null, c: [[], {}] }], d: "x", e: { f: { g: { h: 1 } } } }],
    ["a Date (kombu datetime marker)", new Date("2024-05-01T12:00:00.123Z")],
    ["bytes", Buffer.from([0, 255, 1, 2])],
    ["a Python Decimal", new PyDecimal("3.14159265358979323846")],
    ["an integer beyond 2^53 (BigInt)", 2n ** 64n + 1n],
  ];
  for (const [label, value] of values) {
    api.it(
      `round-trips ${label}`,
      async () => {
        const taskId = id();
        await ctx.store().markSuccess(taskId, value);
        assert.deepEqual((await ctx.store().getMeta(taskId)).result, value);
      },
      t,
    );
  }
  api.it(
    "round-trips NaN and Infinity as Python writes them",
    async () => {
      const taskId = id();
      await ctx
        .store()
        .markSuccess(taskId, [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
      const result = (await ctx.store().getMeta(taskId)).result as number[];
      assert.ok(Number.isNaN(result[0]));
      assert.equal(result[1], Number.POSITIVE_INFINITY);
      assert.equal(result[2], Number.NEGATIVE_INFINITY);
    },
    t,
  );
  api.it(
    "stores failures as Celery exception dicts with the traceback",
    async () => {
      const taskId = id();
      await ctx
        .store()
        .markFailure(taskId, new TypeError("bad input"), { traceback: "Traceback: here" });
      const meta = await ctx.store().getMeta(taskId);
      assert.equal(meta.status, "FAILURE");
      assert.deepEqual(meta.result, {
        exc_type: "TypeError",
        exc_message: ["bad input"],
        exc_module: "builtins",
      });
      assert.equal(meta.traceback, "Traceback: here");
    },
    t,
  );
  api.it(
    "stores revocations as TaskRevokedError",
    async () => {
      const taskId = id();
      await ctx.store().markRevoked(taskId, "terminated");
      const meta = await ctx.store().getMeta(taskId);
      assert.deepEqual(meta.result, {
        exc_type: "TaskRevokedError",
        exc_message: ["terminated"],
        exc_module: "celery.exceptions",
      });
    },
    t,
  );
  api.it(
    "stores children and extended request fields",
    async () => {
      const taskId = id();
      const children = [[["child-1", null], null]];
      const request = {
        name: "tasks.add",
        args: [40, 2],
        kwargs: { z: 1 },
        worker: "celery@host",
        retries: 0,
        queue: "celery",
      };
      await ctx.store().markSuccess(taskId, 42, { children, request });
      const meta = await ctx.store().getMeta(taskId);
      assert.deepEqual(meta.children, children);
      assert.deepEqual(
        {
          name: meta.name,
          args: meta.args,
          kwargs: meta.kwargs,
          worker: meta.worker,
          retries: meta.retries,
          queue: meta.queue,
        },
        request,
      );
    },
    t,
  );
  const limit = () => ctx.store().backend.capabilities.maxRecordBytes;
  const sizedResult = (taskId: string, delta: number) => {
    // The size core measures for an empty-string result, then pad to `limit + delta` bytes.
    const overhead = measureWrite({
      taskId,
      status: "SUCCESS",
      result: "",
      resultJson: '""',
      traceback: null,
      dateDone: new Date(),
      updatedAt: new Date(),
      expiresAt: null,
    });
    return "x".repeat(limit() - overhead + delta);
  };
  api.it(
    "stores a result just under the size limit",
    async () => {
      const taskId = id();
      const value = sizedResult(taskId, -32);
      await ctx.store().markSuccess(taskId, value);
      assert.equal(((await ctx.store().getMeta(taskId)).result as string).length, value.length);
    },
    Math.max(t ?? 60_000, 120_000),
  );
  api.it(
    "refuses a result just over the size limit with a typed error, storing nothing",
    async () => {
      const taskId = id();
      await assert.rejects(
        ctx.store().markSuccess(taskId, sizedResult(taskId, 64)),
        ValueTooLargeError,
      );
      await assertPersisted(ctx, taskId, null);
    },
    Math.max(t ?? 60_000, 120_000),
  );
  if (options.refusesOversizedMerge) {
    api.it(
      "refuses metadata merged past the size limit with a typed error, the record unchanged",
      async () => {
        // Each write fits on its own; together they outgrow the limit (and the database's own).
        const taskId = id();
        const part = "y".repeat(Math.floor(limit() * 0.6));
        await ctx.store().markStarted(taskId, undefined, { metadata: { a: part } });
        await assert.rejects(
          ctx.store().markSuccess(taskId, 1, { metadata: { b: part } }),
          ValueTooLargeError,
        );
        const meta = await ctx.store().getMeta(taskId);
        assert.equal(meta.status, "STARTED");
        assert.deepEqual(Object.keys(meta.metadata ?? {}), ["a"]);
        assert.equal((meta.metadata as { a: string }).a.length, part.length);
      },
      Math.max(t ?? 60_000, 120_000),
    );
  }
});
