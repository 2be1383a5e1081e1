import assert from "node:assert/strict";
import {
  BackendConnectionError,
  type ChordProgress,
  type ResultBackend,
  ResultStore,
  type TaskWrite,
} from "@resultstore/core";
import { CHORD_CLAIM_KEY_PREFIX, derivedKey } from "@resultstore/core/backend";
import { type Ctx, defineGroup, id } from "./context.js";

/** Delivers every member of one chord (in the order given) and counts the callback's runs. */
async function deliver(
  store: ResultStore,
  groupId: string,
  deliveries: readonly string[],
  size: number,
): Promise<{ fired: number; progress: ChordProgress[] }> {
  let fired = 0;
  const progress = await Promise.all(
    deliveries.map((taskId) =>
      store.onChordPartReturn({ groupId, taskId, size }, () => {
        fired++;
      }),
    ),
  );
  return { fired, progress };
}

/**
 * The group's store over its real backend, except that the answers of the first `times` calls
 * `loses` picks are dropped after the call landed, as a cut connection would drop them.
 */
function losingAnswers(
  ctx: Ctx,
  times: number,
  loses: (method: string, args: unknown[]) => boolean,
): ResultStore {
  let left = times;
  const backend = new Proxy(ctx.store().backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        const answer = await value.apply(target, args);
        if (loses(String(property), args) && left-- > 0)
          throw new BackendConnectionError(target.name, "the answer was lost (test)");
        return answer;
      };
    },
  }) as ResultBackend;
  return new ResultStore(backend);
}

/** A chord's callback fires exactly once, also with redelivered members and lost answers. */
export const chordTests = defineGroup("chords", (ctx, api, options) => {
  api.it(
    "the chord callback fires exactly once under concurrency and duplicate delivery",
    async () => {
      const groupId = id("chord");
      const members = Array.from({ length: 8 }, () => id("member"));
      const deliveries = [...members, ...members, members[0] as string].sort(
        () => Math.random() - 0.5,
      );
      const { fired, progress } = await deliver(ctx.store(), groupId, deliveries, members.length);
      assert.equal(fired, 1);
      assert.equal(progress.filter((p) => p.complete).length, 1);
      assert.ok(progress.every((p) => p.count >= 1 && p.count <= members.length));
      assert.equal(Math.max(...progress.map((p) => p.count)), members.length);
    },
    options.timeoutMs,
  );
  api.it(
    "a late duplicate after the callback ran is recognised and fires nothing",
    async () => {
      const groupId = id("chord");
      const [first, second] = [id("member"), id("member")];
      const store = ctx.store();
      const a = await deliver(store, groupId, [first, second], 2);
      const late = await deliver(store, groupId, [first, second], 2);
      assert.equal(a.fired + late.fired, 1);
      assert.deepEqual(
        late.progress.map((p) => [p.count, p.complete, p.duplicate]),
        [
          [2, false, true],
          [2, false, true],
        ],
      );
    },
    options.timeoutMs,
  );
  api.it(
    "a member delivered again after its answer was lost counts once (finding 4)",
    async () => {
      const groupId = id("chord");
      const [m0, m1, m2] = [id("member"), id("member"), id("member")];
      // m0's first delivery: its first call to the database lands, then its answer is lost.
      const lossy = losingAnswers(ctx, 1, () => true);
      await assert.rejects(deliver(lossy, groupId, [m0], 3), BackendConnectionError);
      const others = await deliver(ctx.store(), groupId, [m1, m2], 3);
      // The broker delivers m0 again, after the others (or before: the set does not care).
      const again = await deliver(ctx.store(), groupId, [m0], 3);
      assert.equal(others.fired + again.fired, 1);
    },
    options.timeoutMs,
  );
  api.it(
    "a claim whose answer was lost is read back: the callback still runs once",
    async () => {
      const groupId = id("chord");
      const [first, second] = [id("member"), id("member")];
      await deliver(ctx.store(), groupId, [first], 2);
      const claimId = derivedKey(CHORD_CLAIM_KEY_PREFIX, groupId);
      const lossy = losingAnswers(
        ctx,
        2,
        (method, args) => method === "write" && (args[0] as TaskWrite).taskId === claimId,
      );
      const last = await deliver(lossy, groupId, [second], 2);
      const late = await deliver(ctx.store(), groupId, [first, second], 2);
      assert.equal(last.fired, 1, "the delivery whose claim landed runs the callback");
      assert.equal(late.fired, 0);
    },
    options.timeoutMs,
  );
  api.it(
    "chords whose ids run together do not share members, and long ids fit",
    async () => {
      const base = id("g");
      // The old per-member key `chord-part-<group>-<task>` was the same for these two.
      const one = await deliver(ctx.store(), `${base}-b`, ["c"], 1);
      const two = await deliver(ctx.store(), base, ["b-c"], 1);
      assert.deepEqual([one.fired, two.fired], [1, 1]);
      const longGroup = `${id("g")}-${"x".repeat(150)}`;
      const longMember = `${id("m")}-${"y".repeat(150)}`;
      const long = await deliver(ctx.store(), longGroup, [longMember, longMember], 1);
      assert.equal(long.fired, 1);
    },
    options.timeoutMs,
  );
});
