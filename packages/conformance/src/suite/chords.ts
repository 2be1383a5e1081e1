import assert from "node:assert/strict";
import { defineGroup, id } from "./context.js";

/** A chord's callback fires exactly once, also with redelivered members. */
export const chordTests = defineGroup("chords", (ctx, api, options) => {
  api.it(
    "the chord callback fires exactly once under concurrency and duplicate delivery",
    async () => {
      const groupId = id("chord");
      const members = Array.from({ length: 8 }, () => id("member"));
      let fired = 0;
      const deliveries = [...members, ...members, members[0] as string].sort(
        () => Math.random() - 0.5,
      );
      const progress = await Promise.all(
        deliveries.map((taskId) =>
          ctx.store().onChordPartReturn({ groupId, taskId, size: members.length }, () => {
            fired++;
          }),
        ),
      );
      assert.equal(fired, 1);
      assert.equal(progress.filter((p) => p.complete).length, 1);
      assert.equal(progress.filter((p) => p.duplicate).length, members.length + 1);
      assert.deepEqual(
        progress
          .filter((p) => !p.duplicate)
          .map((p) => p.count)
          .sort((a, b) => a - b),
        members.map((_, i) => i + 1),
      );
    },
    options.timeoutMs,
  );
  api.it(
    "once the callback fired, the unlock counter is removed and a late duplicate is still one",
    async () => {
      const groupId = id("chord");
      const [first, second] = [id("member"), id("member")];
      let fired = 0;
      const callback = () => {
        fired++;
      };
      await ctx.store().onChordPartReturn({ groupId, taskId: first, size: 2 }, callback);
      const last = await ctx
        .store()
        .onChordPartReturn({ groupId, taskId: second, size: 2 }, callback);
      assert.equal(last.complete, true);
      const late = await ctx
        .store()
        .onChordPartReturn({ groupId, taskId: first, size: 2 }, callback);
      assert.deepEqual([late.duplicate, fired], [true, 1]);
      // removeCounter dropped Celery's chord-unlock-<gid>: counting it again starts from zero.
      assert.equal(await ctx.store().incr(`chord-unlock-${groupId}`), 1);
    },
    options.timeoutMs,
  );
});
