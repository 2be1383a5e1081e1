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
});
