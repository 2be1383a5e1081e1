import assert from "node:assert/strict";
import { defineGroup, id } from "./context.js";

/** Groups save, restore and delete. */
export const groupTests = defineGroup("groups", (ctx, api, options) => {
  api.it(
    "saves, restores and deletes a group",
    async () => {
      const groupId = id("group");
      const taskIds = [id(), id(), id()];
      await ctx.store().saveGroup(groupId, taskIds);
      const restored = await ctx.store().restoreGroup(groupId);
      assert.ok(restored);
      assert.deepEqual(restored.taskIds, taskIds);
      assert.ok(restored.dateDone instanceof Date);
      await ctx.store().deleteGroup(groupId);
      assert.equal(await ctx.store().restoreGroup(groupId), null);
    },
    options.timeoutMs,
  );
  api.it(
    "an unknown group restores as null",
    async () => {
      assert.equal(await ctx.store().restoreGroup(id("nogroup")), null);
    },
    options.timeoutMs,
  );
});
