import assert from "node:assert/strict";
import { isReady, type ResultStore, type StoreOutcome } from "@resultstore/core";
import { assertPersisted, defineGroup, id, withPeers } from "./context.js";

/** Concurrent writers: SUCCESS is never lost, a ready state never regresses. */
export const raceTests = defineGroup("races", (ctx, api, options) => {
  const rounds = options.raceRounds ?? 5;
  const width = options.concurrency ?? 32;
  api.it(
    `${rounds} rounds of concurrent SUCCESS writers and late STARTED/RETRY: SUCCESS is never lost`,
    async () => {
      for (let round = 0; round < rounds; round++) {
        const ids = Array.from({ length: Math.max(4, width / 4) }, () => id(`race${round}`));
        const violations: string[] = [];
        await Promise.all(
          ids.map(async (taskId) => {
            const writes: [string, string][] = [
              ["SUCCESS", "a"],
              ["SUCCESS", "b"],
              ["STARTED", "s"],
              ["RETRY", "r"],
              ["STARTED", "s2"],
              ["QUEUED", "q"],
            ];
            writes.sort(() => Math.random() - 0.5);
            let sawReady = false;
            let done = false;
            // A reader watching throughout: once it has seen a ready state it must never see an unready one.
            const watcher = (async () => {
              while (!done) {
                const status = (await ctx.store().getMeta(taskId)).status;
                if (isReady(status)) sawReady = true;
                else if (sawReady && status !== "PENDING")
                  violations.push(`${taskId} went ready -> ${status}`);
                // Yield to the event loop: a loop of resolved promises alone would starve timers.
                await new Promise((resolve) => setImmediate(resolve));
              }
            })();
            // Handled from the start: when the writes fail, the watcher's own failure (the same
            // dead server) must not surface later as an unhandled rejection.
            const watching = watcher.then(
              () => undefined,
              (error: unknown) => ({ error }),
            );
            let outcomes: (StoreOutcome & { result: string })[];
            try {
              outcomes = await Promise.all(
                writes.map(([state, result]) =>
                  ctx
                    .store()
                    .storeResult(taskId, result, state)
                    .then((o) => ({ ...o, result })),
                ),
              );
            } finally {
              done = true;
            }
            const watchFailure = await watching;
            if (watchFailure) throw watchFailure.error;
            const successes = outcomes.filter((o) => o.status === "SUCCESS" && o.applied);
            if (successes.length !== 1)
              violations.push(`${taskId}: ${successes.length} SUCCESS writes applied`);
            const meta = await ctx.store().getMeta(taskId);
            if (meta.status !== "SUCCESS") violations.push(`${taskId} ended ${meta.status}`);
            else if (meta.result !== successes[0]?.result)
              violations.push(`${taskId} kept ${String(meta.result)}, not the applied SUCCESS`);
          }),
        );
        assert.deepEqual(violations, [], `round ${round}`);
      }
    },
    Math.max(options.timeoutMs ?? 60_000, 180_000),
  );
  api.it(
    "concurrent FAILURE and late STARTED: the failure stays",
    async () => {
      const ids = Array.from({ length: width }, () => id("fail"));
      await Promise.all(
        ids.map((taskId) =>
          Promise.all([
            ctx.store().markStarted(taskId),
            ctx.store().markFailure(taskId, new Error("x")),
            ctx.store().markStarted(taskId),
            ctx.store().markRetry(taskId, new Error("y")),
          ]),
        ),
      );
      for (const taskId of ids)
        assert.equal((await ctx.store().getMeta(taskId)).status, "FAILURE", taskId);
    },
    Math.max(options.timeoutMs ?? 60_000, 120_000),
  );
  api.it(
    "a refusal after more than 16 writes by others is a plain refusal, fresh or cached",
    async () => {
      // Contention is not a fault: a write the rules refuse resolves { applied: false }, however
      // many writes the record took and whether this process saw the task before (it queued it:
      // a backend that caches versions holds a stale one) or never did (another process).
      const taskId = id("long");
      await ctx.store().markQueued(taskId, { metadata: { by: "producer" } });
      await withPeers(ctx, 2, async (peers) => {
        const [worker, late] = peers as [ResultStore, ResultStore];
        for (let step = 0; step < 20; step++)
          await worker.storeResult(taskId, { step }, "PROGRESS");
        await worker.markSuccess(taskId, "done");
        const duplicate = await late.markStarted(taskId);
        assert.equal(duplicate.applied, false, "a duplicate STARTED from another process");
        const revoke = await ctx.store().markRevoked(taskId);
        assert.equal(revoke.applied, false, "a revoke from the process that queued it");
      });
      await assertPersisted(ctx, taskId, { status: "SUCCESS", metadata: { by: "producer" } });
    },
    options.timeoutMs,
  );
});
