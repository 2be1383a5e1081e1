import assert from "node:assert/strict";
import { WaitAbortedError, WaitTimeoutError } from "@resultstore/core";
import { defineGroup, id } from "./context.js";

/** `waitFor` returns ready states, times out and aborts. */
export const waitTests = defineGroup("waiting", (ctx, api, options) => {
  api.it(
    "waitFor resolves when the task becomes ready",
    async () => {
      const taskId = id();
      await ctx.store().markStarted(taskId);
      setTimeout(() => void ctx.store().markSuccess(taskId, "done"), 150);
      const meta = await ctx.store().waitFor(taskId, { timeout: 20_000, interval: 50 });
      assert.equal(meta.status, "SUCCESS");
      assert.equal(meta.result, "done");
    },
    options.timeoutMs,
  );
  api.it(
    "waitFor rejects with a typed timeout",
    async () => {
      const started = Date.now();
      await assert.rejects(
        ctx.store().waitFor(id(), { timeout: 300, interval: 50 }),
        WaitTimeoutError,
      );
      assert.ok(Date.now() - started >= 290);
    },
    options.timeoutMs,
  );
  api.it(
    "waitFor rejects when aborted",
    async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(
        ctx.store().waitFor(id(), { interval: 50, signal: controller.signal }),
        WaitAbortedError,
      );
    },
    options.timeoutMs,
  );
});
