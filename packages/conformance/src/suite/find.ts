import assert from "node:assert/strict";
import {
  InvalidCursorError,
  InvalidQueryError,
  KNOWN_STATES,
  type ResultStore,
  type TaskFilter,
  type TaskMeta,
} from "@resultstore/core";
import type { TestApi, TestContext } from "../api.js";
import { type Ctx, defineGroup, id, sleep } from "./context.js";

type Order = "newest" | "oldest";

/**
 * `find` and `countByState`: every filter, both orders, ties, paging (also while records change),
 * expiry, and that only task records are listed. The expected answers are computed here from
 * what `getMeta` reads back, by a definition of the order written apart from core's.
 */
export const findTests = defineGroup("find", (ctx, api, options) => {
  const t = options.timeoutMs;
  const test = findTest(ctx, api);

  test(
    "each filter, alone and combined, selects exactly the matching tasks; countByState agrees",
    async (store) => {
      const written = await writeAll(store, [
        ["QUEUED", "tasks.a", { tenant: "acme", user: 42 }],
        ["STARTED", "tasks.a", { tenant: "acme", user: 7, vip: true }],
        ["SUCCESS", "tasks.b", { tenant: "globex", user: 42 }],
        ["FAILURE", "tasks.b", { tenant: "acme", user: "42" }],
        ["REVOKED", "tasks.a", { tenant: "acme", vip: false }],
        ["RETRY", "tasks.c", { tenant: ["acme"], user: [42] }],
        ["SUCCESS", undefined, {}],
        ["PROGRESS", "tasks.c", { tenant: "acme", score: 1.5 }],
      ]);
      const filters: TaskFilter[] = [
        {},
        { state: "SUCCESS" },
        { state: ["FAILURE", "REVOKED"] },
        { state: "PROGRESS" },
        { name: "tasks.a" },
        { metadata: { tenant: "acme" } },
        { metadata: { user: 42 } },
        { metadata: { user: "42" } },
        { metadata: { vip: true } },
        { metadata: { vip: false } },
        { metadata: { score: 1.5 } },
        { metadata: { tenant: "acme", user: 42 } },
        { metadata: { tenant: "acme", vip: true } },
        { state: ["QUEUED", "STARTED", "REVOKED"], name: "tasks.a", metadata: { tenant: "acme" } },
        { metadata: { nobody: "here" } },
      ];
      for (const filter of filters) {
        const expected = written.filter((meta) => matches(meta, filter));
        for (const order of ["newest", "oldest"] as const) {
          const found = await pageAll(store, filter, order, 3);
          assert.deepEqual(found, ids(sorted(expected, order)), `${order} ${show(filter)}`);
        }
        const { state: _, ...countFilter } = filter;
        if (filter.state !== undefined) continue;
        const counts = await store.countByState(countFilter);
        for (const state of KNOWN_STATES) assert.ok(state in counts, `${state} listed`);
        assert.deepEqual(nonZero(counts), tally(expected), `countByState ${show(filter)}`);
      }
    },
    t,
  );

  test(
    "find returns each task as getMeta reads it, with its last write time",
    async (store) => {
      const run = id("run");
      const taskId = id();
      await store.markQueued(taskId, { name: "tasks.send", args: [1], metadata: { run, n: 1 } });
      await store.markSuccess(taskId, { sent: true }, { metadata: { done: true } });
      const [found] = (await store.find({ metadata: { run } })).tasks;
      const meta = await store.getMeta(taskId);
      assert.deepEqual(found, meta);
      assert.ok(meta.updatedAt instanceof Date, "a write through resultstore keeps updatedAt");
    },
    t,
  );

  test(
    "after (inclusive) and before (exclusive) select by the last write's time",
    async (store) => {
      const run = id("run");
      const spec = ["SUCCESS", "tasks.t", { run }] as const;
      const written = await writeAll(store, Array(6).fill(spec), { distinctTimes: true });
      const times = written.map((meta) => timeOf(meta));
      assert.equal(new Set(times).size, 6, "each write has its own millisecond");
      const [, second, , fourth] = times as number[];
      const ranges: TaskFilter[] = [
        { after: new Date(second as number) },
        { before: new Date(fourth as number) },
        { after: new Date(second as number), before: new Date(fourth as number) },
        { after: new Date((fourth as number) + 1) },
        { before: new Date(Math.min(...times)) },
      ];
      for (const range of ranges) {
        const filter = { ...range, metadata: { run } };
        const expected = written.filter((meta) => matches(meta, filter));
        assert.deepEqual(
          await pageAll(store, filter, "newest", 2),
          ids(sorted(expected, "newest")),
        );
        const counts = await store.countByState(filter);
        assert.equal(counts.SUCCESS, expected.length, `countByState ${show(range)}`);
      }
    },
    t,
  );

  test(
    "records written in the same millisecond are ordered by task id, in both orders and across pages",
    async (store) => {
      const run = id("run");
      // Started in one synchronous loop: core stamps each write before any of them is sent, so
      // most share a millisecond.
      const taskIds = Array.from({ length: 20 }, () => id());
      await Promise.all(
        taskIds.map((taskId) => store.markSuccess(taskId, 1, { metadata: { run } })),
      );
      const written = await store.getMany(taskIds);
      const times = written.map(timeOf);
      assert.ok(new Set(times).size < times.length, "some writes share a millisecond");
      for (const order of ["newest", "oldest"] as const) {
        const expected = ids(sorted(written, order));
        assert.deepEqual(await pageAll(store, { metadata: { run } }, order, 1000), expected);
        assert.deepEqual(await pageAll(store, { metadata: { run } }, order, 3), expected);
      }
    },
    t,
  );

  test(
    "paging with a small limit returns every match exactly once, then a null cursor",
    async (store) => {
      const run = id("run");
      const written = await writeAll(
        store,
        Array.from(
          { length: 13 },
          (_, i) => [i % 3 ? "SUCCESS" : "FAILURE", "tasks.p", { run }] as const,
        ),
      );
      for (const order of ["newest", "oldest"] as const) {
        for (const limit of [1, 4, 13, 14]) {
          const pages: number[] = [];
          const found = await pageAll(store, { metadata: { run } }, order, limit, pages);
          assert.deepEqual(found, ids(sorted(written, order)), `${order}, limit ${limit}`);
          assert.deepEqual(pages, pageSizes(13, limit), `page sizes, limit ${limit}`);
        }
      }
      const defaultPage = await store.find({ metadata: { run } });
      assert.equal(defaultPage.tasks.length, 13);
      assert.equal(defaultPage.cursor, null);
    },
    t,
  );

  test(
    "paging while records change state and new ones arrive never returns a record twice",
    async (store) => {
      for (const order of ["newest", "oldest"] as const) {
        const run = id("run");
        const taskIds: string[] = [];
        for (let i = 0; i < 16; i++) {
          const taskId = id();
          taskIds.push(taskId);
          await store.markQueued(taskId, { metadata: { run } });
        }
        const seen: string[] = [];
        const changed = new Set<string>();
        let cursor: string | null | undefined;
        for (let page = 0; page < 20 && cursor !== null; page++) {
          const result = await store.find(
            { metadata: { run } },
            { limit: 3, order, ...(cursor && { cursor }) },
          );
          seen.push(...result.tasks.map((task) => task.taskId));
          cursor = result.cursor;
          // Move one record already returned and one not yet returned, and add a new one.
          const returned = seen[page % seen.length] as string;
          const pending = taskIds.find((taskId) => !seen.includes(taskId) && !changed.has(taskId));
          for (const taskId of [returned, pending]) {
            if (!taskId) continue;
            changed.add(taskId);
            await store.markStarted(taskId);
          }
          const added = id();
          changed.add(added);
          await store.markQueued(added, { metadata: { run } });
        }
        assert.equal(cursor, null, "paging ends");
        assert.equal(new Set(seen).size, seen.length, `no record twice (${order})`);
        for (const taskId of taskIds) {
          if (!changed.has(taskId))
            assert.ok(seen.includes(taskId), `${taskId}, unchanged, is returned (${order})`);
        }
      }
    },
    t,
  );

  test(
    "expired records are never listed or counted",
    async () => {
      const seconds = options.minExpirySeconds ?? 1;
      // SUCCESS records expire after `seconds`; every other state is kept.
      const store = await options.createStore({ expires: { SUCCESS: seconds, default: null } });
      try {
        const run = id("run");
        const expiring = [id(), id()];
        const kept = [id(), id()];
        for (const taskId of expiring) await store.markSuccess(taskId, 1, { metadata: { run } });
        for (const taskId of kept)
          await store.markFailure(taskId, new Error("x"), { metadata: { run } });
        assert.equal((await store.find({ metadata: { run } })).tasks.length, 4);
        await sleep(seconds * 1000 + 1200);
        for (const order of ["newest", "oldest"] as const) {
          const found = await pageAll(store, { metadata: { run } }, order, 1);
          assert.deepEqual([...found].sort(), [...kept].sort(), `only live records (${order})`);
        }
        assert.deepEqual(nonZero(await store.countByState({ metadata: { run } })), { FAILURE: 2 });
        assert.equal((await store.find({ state: "SUCCESS", metadata: { run } })).tasks.length, 0);
      } finally {
        await store.backend.destroy?.();
        await store.close();
      }
    },
    (options.minExpirySeconds ?? 1) * 1000 + (t ?? 60_000),
  );

  test(
    "groups, counters, sets and chord bookkeeping are never listed or counted",
    async () => {
      const store = await options.createStore();
      try {
        const [a, b, group] = [id(), id(), id("g")];
        await store.markSuccess(a, 1);
        await store.markFailure(b, new Error("x"));
        await store.saveGroup(group, [a, b]);
        await store.incr(id("counter"));
        await store.onChordPartReturn({ groupId: group, taskId: a, size: 1 });
        await store.incr(`chord-unlock-${group}`);
        const found = await pageAll(store, {}, "newest", 2);
        assert.deepEqual([...found].sort(), [a, b].sort());
        assert.deepEqual(nonZero(await store.countByState()), { SUCCESS: 1, FAILURE: 1 });
      } finally {
        await store.backend.destroy?.();
        await store.close();
      }
    },
    t,
  );

  test(
    "bad filters, options and cursors are typed errors and change nothing",
    async (store) => {
      const run = id("run");
      await writeAll(store, [
        ["SUCCESS", "tasks.x", { run }],
        ["SUCCESS", "tasks.x", { run }],
      ]);
      const before = await pageAll(store, { metadata: { run } }, "newest", 10);
      const bad: [string, () => Promise<unknown>][] = [
        ["unknown state", () => store.find({ state: "succeeded" })],
        ["unknown filter key", () => store.find({ status: "SUCCESS" } as TaskFilter)],
        ["object metadata value", () => store.find({ metadata: { a: {} as never } })],
        ["NaN metadata value", () => store.find({ metadata: { a: Number.NaN } })],
        ["$ metadata key", () => store.find({ metadata: { $ne: "x" } })],
        ["invalid date", () => store.find({ after: new Date("nope") })],
        ["after >= before", () => store.find({ after: new Date(2), before: new Date(1) })],
        ["limit 0", () => store.find({}, { limit: 0 })],
        ["limit 1001", () => store.find({}, { limit: 1001 })],
        ["unknown option", () => store.find({}, { pageSize: 1 } as never)],
        ["countByState with a state", () => store.countByState({ state: "SUCCESS" } as never)],
      ];
      for (const [label, call] of bad) await assert.rejects(call(), InvalidQueryError, label);
      const first = await store.find({ metadata: { run } }, { limit: 1 });
      const cursor = first.cursor as string;
      const badCursors: [string, () => Promise<unknown>][] = [
        ["forged", () => store.find({ metadata: { run } }, { cursor: "eyJ2IjoxfQ" })],
        ["garbage", () => store.find({ metadata: { run } }, { cursor: "%%%" })],
        ["another filter", () => store.find({ metadata: { run: "other" } }, { cursor })],
        ["another order", () => store.find({ metadata: { run } }, { cursor, order: "oldest" })],
      ];
      for (const [label, call] of badCursors)
        await assert.rejects(call(), InvalidCursorError, label);
      assert.deepEqual(await pageAll(store, { metadata: { run } }, "newest", 10), before);
    },
    t,
  );
});

/**
 * Registers a test that runs only where the backend has `find` and `countByState`; elsewhere it
 * is skipped, saying why. The body gets the group's store.
 */
function findTest(ctx: Ctx, api: TestApi) {
  return (name: string, body: (store: ResultStore) => Promise<void>, timeoutMs?: number) =>
    // A rest parameter, so the function's length is 0: jest would take a declared parameter for
    // a `done` callback. Vitest and the suite's own runner pass a context with `skip`.
    api.it(
      name,
      async (...args: [TestContext?]) => {
        const store = ctx.store();
        if (!store.backend.find || !store.backend.countByState) {
          const reason = `${store.backend.name} does not implement find and countByState yet`;
          args[0]?.skip?.(reason);
          return;
        }
        await body(store);
      },
      timeoutMs,
    );
}

type Spec = readonly [state: string, name: string | undefined, metadata: Record<string, unknown>];

/**
 * Writes one task per spec (QUEUED with its name and metadata, then its state), in order; their
 * metas. With `distinctTimes`, each task's last write is stamped in a millisecond of its own
 * (core stamps writes from this process's clock, so waiting for it to tick is enough).
 */
async function writeAll(
  store: ResultStore,
  specs: readonly Spec[],
  { distinctTimes = false } = {},
): Promise<TaskMeta[]> {
  const taskIds: string[] = [];
  for (const [state, name, metadata] of specs) {
    if (distinctTimes) await nextMillisecond();
    const taskId = id();
    taskIds.push(taskId);
    await store.markQueued(taskId, { metadata, ...(name && { name }) });
    if (state !== "QUEUED") await store.storeResult(taskId, null, state);
  }
  return store.getMany(taskIds);
}

/** Every page of `find`, each page's size into `sizes`; the task ids in the order returned. */
async function pageAll(
  store: ResultStore,
  filter: TaskFilter,
  order: Order,
  limit: number,
  sizes: number[] = [],
): Promise<string[]> {
  const found: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await store.find(filter, { limit, order, ...(cursor && { cursor }) });
    assert.ok(page.tasks.length <= limit, "a page holds at most its limit");
    sizes.push(page.tasks.length);
    found.push(...page.tasks.map((task) => task.taskId));
    if (page.cursor === null) return found;
    assert.ok(sizes.length < 1000, "paging ends");
    cursor = page.cursor;
  }
}

/** `find`'s time of a task: its last write, or `dateDone` (Celery's records); -Infinity without one. */
function timeOf(meta: TaskMeta): number {
  return (meta.updatedAt ?? meta.dateDone)?.getTime() ?? Number.NEGATIVE_INFINITY;
}

/** `metas` in `order`: by time, ties by task id (the suite's ids are ASCII: `<` is byte order). */
function sorted(metas: readonly TaskMeta[], order: Order): TaskMeta[] {
  const oldestFirst = [...metas].sort((a, b) => {
    const [x, y] = [timeOf(a), timeOf(b)];
    if (x !== y) return x < y ? -1 : 1;
    return a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0;
  });
  return order === "oldest" ? oldestFirst : oldestFirst.reverse();
}

/** Whether `meta` matches `filter`, as the API documents it. */
function matches(meta: TaskMeta, filter: TaskFilter): boolean {
  const states = filter.state === undefined ? undefined : [filter.state].flat();
  if (states && !states.includes(meta.status)) return false;
  if (filter.name !== undefined && meta.name !== filter.name) return false;
  for (const [key, value] of Object.entries(filter.metadata ?? {})) {
    if (!(key in meta.metadata) || meta.metadata[key] !== value) return false;
  }
  const time = timeOf(meta);
  if (filter.after && !(time >= filter.after.getTime())) return false;
  if (filter.before && !(time < filter.before.getTime())) return false;
  return true;
}

/** Resolves once `Date.now()` has moved on from the millisecond it was called in. */
async function nextMillisecond(): Promise<void> {
  const start = Date.now();
  while (Date.now() === start) await sleep(1);
}

const ids = (metas: readonly TaskMeta[]) => metas.map((meta) => meta.taskId);

function tally(metas: readonly TaskMeta[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const meta of metas) counts[meta.status] = (counts[meta.status] ?? 0) + 1;
  return counts;
}

function nonZero(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

/** The sizes of the pages `total` records make at `limit` a page: full pages, then the rest. */
function pageSizes(total: number, limit: number): number[] {
  return Array.from({ length: Math.ceil(total / limit) }, (_, i) =>
    Math.min(limit, total - i * limit),
  );
}

const show = (filter: object) =>
  JSON.stringify(filter, (_k, v) => (v instanceof Date ? v.toISOString() : v));
