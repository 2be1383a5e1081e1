import assert from "node:assert/strict";
import { canTransition } from "@resultstore/core";
import { assertPersisted, defineGroup, id } from "./context.js";

const TABLE_INCOMING = [
  "QUEUED",
  "STARTED",
  "RETRY",
  "PROGRESS",
  "SUCCESS",
  "FAILURE",
  "REVOKED",
] as const;
const TABLE_STORED = [null, ...TABLE_INCOMING] as const;

/** The state rules, for every pair of stored and incoming states. */
export const stateRuleTests = defineGroup("stateRules", (ctx, api, options) => {
  for (const stored of TABLE_STORED) {
    const refused = TABLE_INCOMING.filter((s) => !canTransition(stored, s));
    api.it(
      `stored ${stored ?? "nothing"}: refuses [${refused.join(", ")}], applies the rest`,
      async () => {
        await Promise.all(
          TABLE_INCOMING.map(async (incoming) => {
            const taskId = id();
            if (stored)
              await ctx
                .store()
                .storeResult(taskId, `first ${stored}`, stored, { metadata: { first: stored } });
            const outcome = await ctx.store().storeResult(taskId, `then ${incoming}`, incoming, {
              metadata: { next: incoming },
            });
            const expected = canTransition(stored, incoming);
            assert.equal(outcome.applied, expected, `${stored} -> ${incoming} applied`);
            const meta = await ctx.store().getMeta(taskId);
            assert.equal(
              meta.status,
              expected ? incoming : stored,
              `${stored} -> ${incoming} status`,
            );
            assert.equal(meta.result, expected ? `then ${incoming}` : `first ${stored}`);
            const metadata = {
              ...(stored ? { first: stored } : {}),
              ...(expected ? { next: incoming } : {}),
            };
            await assertPersisted(ctx, taskId, { status: meta.status, metadata });
          }),
        );
      },
      options.timeoutMs,
    );
  }
  if (options.recognisesRetriedWrites) {
    api.it(
      "a write sent again after it landed (its answer lost) reports applied: true",
      async () => {
        // A transport retry (the driver's own, or alwaysRetry) re-sends the very same write, same
        // writeId; finding its own SUCCESS stored, it must not call itself refused.
        const backend = ctx.store().backend;
        const write = {
          taskId: id(),
          status: "SUCCESS",
          result: 1,
          resultJson: "1",
          traceback: null,
          dateDone: new Date(),
          updatedAt: new Date(),
          expiresAt: null,
          writeId: id(),
        };
        assert.deepEqual(await backend.write(write), { applied: true });
        assert.deepEqual(await backend.write(write), { applied: true });
        // Another call with the same content is another write: refused.
        assert.deepEqual(await backend.write({ ...write, writeId: id() }), { applied: false });
        const { writeId: _, ...withoutId } = write;
        assert.deepEqual(await backend.write(withoutId), { applied: false });
        assert.equal((await ctx.store().getMeta(write.taskId)).status, "SUCCESS");
      },
      options.timeoutMs,
    );
  }
});
