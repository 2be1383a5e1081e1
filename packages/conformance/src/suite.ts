/**
 * The conformance suite every backend passes against its real server. Each group is a function of
 * (test API, options); `runConformanceSuite` registers them all. Tests use unique ids and share
 * nothing but the group's store, so they do not depend on order.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  canTransition,
  EncodeError,
  InvalidIdError,
  InvalidMetadataError,
  isReady,
  measureWrite,
  PyDecimal,
  type ResultStore,
  type ResultStoreOptions,
  StoreClosedError,
  type StoreOutcome,
  ValueTooLargeError,
  WaitAbortedError,
  WaitTimeoutError,
} from "@resultstore/core";
import type { ConformanceOptions, RawRecord, SuiteGroup, TestApi } from "./api.js";

type Ctx = { store: () => ResultStore; options: ConformanceOptions; api: TestApi };

const id = (label = "t") => `${label}-${randomUUID()}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Registers `body` under a describe block with its own store, unless the backend opted out. */
function group(
  api: TestApi,
  options: ConformanceOptions,
  name: SuiteGroup,
  body: (ctx: Ctx) => void,
): void {
  const reason = options.optOut?.[name];
  api.describe(name, () => {
    if (reason) {
      api.it(`opted out: ${reason}`, () => {
        assert.ok(reason.length > 10, "an opt-out must name the database limit behind it");
      });
      return;
    }
    let store: ResultStore | undefined;
    const timeout = options.timeoutMs ?? 60_000;
    api.beforeAll(async () => {
      store = await options.createStore();
    }, timeout);
    api.afterAll(async () => {
      if (!store) return;
      await store.backend.destroy?.();
      await store.close();
    }, timeout);
    body({ store: () => store as ResultStore, options, api });
  });
}

async function raw(ctx: Ctx, taskId: string): Promise<RawRecord | null | undefined> {
  return ctx.options.readRaw?.(ctx.store(), taskId);
}

/** Asserts the database holds exactly `expected` (status and metadata) for `taskId`, or nothing. */
async function assertPersisted(
  ctx: Ctx,
  taskId: string,
  expected: { status: string; metadata?: object } | null,
) {
  const meta = await ctx.store().getMeta(taskId);
  assert.equal(meta.status, expected ? expected.status : "PENDING", `status of ${taskId}`);
  if (expected?.metadata) assert.deepEqual(meta.metadata, expected.metadata);
  if (!ctx.options.readRaw) return;
  const record = await raw(ctx, taskId);
  if (!expected) {
    assert.equal(record, null, `nothing should be stored for ${taskId}`);
    return;
  }
  assert.ok(record, `a raw record should exist for ${taskId}`);
  assert.equal(record.status, expected.status);
  if (expected.metadata) assert.deepEqual(record.metadata, expected.metadata);
}

/** Every state round-trips, with Celery's STARTED payload. */
export function statesTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "states", (ctx) => {
    const t = options.timeoutMs;
    api.it(
      "unknown ids read as PENDING with a null result",
      async () => {
        const meta = await ctx.store().getMeta(id());
        assert.equal(meta.status, "PENDING");
        assert.equal(meta.result, null);
        assert.equal(meta.dateDone, null);
      },
      t,
    );
    for (const state of [
      "QUEUED",
      "STARTED",
      "RETRY",
      "PROGRESS",
      "SUCCESS",
      "FAILURE",
      "REVOKED",
    ]) {
      api.it(
        `round-trips ${state}`,
        async () => {
          const taskId = id();
          const before = Date.now();
          const outcome = await ctx.store().storeResult(taskId, { step: state }, state);
          assert.equal(outcome.applied, true);
          const meta = await ctx.store().getMeta(taskId);
          assert.equal(meta.status, state);
          if (isReady(state)) {
            assert.ok(meta.dateDone instanceof Date, "ready states carry date_done");
            assert.ok(Math.abs(meta.dateDone.getTime() - before) < 60_000, "date_done is now");
          } else {
            assert.equal(meta.dateDone, null, "unready states have no date_done");
          }
          await assertPersisted(ctx, taskId, { status: state });
        },
        t,
      );
    }
    api.it(
      "STARTED carries Celery's {pid, hostname} by default",
      async () => {
        const taskId = id();
        await ctx.store().markStarted(taskId);
        const meta = await ctx.store().getMeta(taskId);
        assert.equal(typeof (meta.result as { pid: number }).pid, "number");
        assert.equal(typeof (meta.result as { hostname: string }).hostname, "string");
      },
      t,
    );
  });
}

/** Results round-trip through the codec: JSON, kombu's typed markers, big integers, exceptions. */
export function resultTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "results", (ctx) => {
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
  });
}

/** Metadata merges key by key and survives every later write. */
export function metadataTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "metadata", (ctx) => {
    const t = options.timeoutMs;
    api.it(
      "metadata written at QUEUED survives STARTED, RETRY and SUCCESS",
      async () => {
        const taskId = id();
        const metadata = { tenant: "acme", attempt: 1, tags: ["a", "b"], nested: { deep: true } };
        const s = ctx.store();
        await s.markQueued(taskId, {
          metadata,
          name: "tasks.send",
          args: [1],
          kwargs: { to: "x" },
          queue: "mail",
        });
        await assertPersisted(ctx, taskId, { status: "QUEUED", metadata });
        await s.markStarted(taskId);
        await assertPersisted(ctx, taskId, { status: "STARTED", metadata });
        await s.markRetry(taskId, new Error("try again"));
        await assertPersisted(ctx, taskId, { status: "RETRY", metadata });
        await s.markStarted(taskId);
        await s.markSuccess(taskId, "sent");
        await assertPersisted(ctx, taskId, { status: "SUCCESS", metadata });
        const meta = await s.getMeta(taskId);
        assert.equal(meta.name, "tasks.send", "extended fields from QUEUED survive too");
        assert.deepEqual(meta.kwargs, { to: "x" });
        assert.equal(meta.queue, "mail");
      },
      t,
    );
    api.it(
      "a later write merges metadata key by key",
      async () => {
        const taskId = id();
        await ctx.store().markQueued(taskId, { metadata: { tenant: "acme", n: 1 } });
        await ctx.store().markSuccess(taskId, 1, { metadata: { n: 2, extra: true } });
        await assertPersisted(ctx, taskId, {
          status: "SUCCESS",
          metadata: { tenant: "acme", n: 2, extra: true },
        });
      },
      t,
    );
    api.it(
      "metadata named like reserved fields stays inside metadata",
      async () => {
        const taskId = id();
        const metadata = {
          status: "SUCCESS",
          result: "forged",
          task_id: "other",
          _id: "x",
          id: "y",
          date_done: 1,
          ttl: 0,
          value: "v",
        };
        await ctx.store().markQueued(taskId, { metadata });
        const meta = await ctx.store().getMeta(taskId);
        assert.equal(meta.status, "QUEUED");
        assert.equal(meta.result, null);
        assert.equal(meta.taskId, taskId);
        assert.deepEqual(meta.metadata, metadata);
        await assertPersisted(ctx, taskId, { status: "QUEUED", metadata });
      },
      t,
    );
    api.it(
      "a refused write changes no metadata",
      async () => {
        const taskId = id();
        await ctx.store().markSuccess(taskId, 1, { metadata: { kept: true } });
        const outcome = await ctx
          .store()
          .markStarted(taskId, undefined, { metadata: { kept: false, added: 1 } });
        assert.equal(outcome.applied, false);
        await assertPersisted(ctx, taskId, { status: "SUCCESS", metadata: { kept: true } });
      },
      t,
    );
  });
}

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
export function stateRuleTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "stateRules", (ctx) => {
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
}

/** Concurrent writers: SUCCESS is never lost, a ready state never regresses. */
export function raceTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "races", (ctx) => {
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
  });
}

/** `incr` is atomic under concurrency and expires. */
export function counterTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "counters", (ctx) => {
    const width = options.concurrency ?? 32;
    api.it(
      `${width} concurrent increments return exactly 1..${width}`,
      async () => {
        const key = id("counter");
        const values = await Promise.all(
          Array.from({ length: width }, () => ctx.store().incr(key)),
        );
        assert.deepEqual(
          [...values].sort((a, b) => a - b),
          Array.from({ length: width }, (_, i) => i + 1),
        );
      },
      options.timeoutMs,
    );
    api.it(
      "increments by a step and counters are independent",
      async () => {
        const [a, b] = [id("ca"), id("cb")];
        assert.equal(await ctx.store().incr(a, 5), 5);
        assert.equal(await ctx.store().incr(a, -2), 3);
        assert.equal(await ctx.store().incr(b), 1);
      },
      options.timeoutMs,
    );
    api.it(
      "a counter expires with the store's expiry and restarts from zero",
      async () => {
        const seconds = options.minExpirySeconds ?? 1;
        const store = await options.createStore({ expires: seconds });
        try {
          const key = id("cexp");
          assert.equal(await store.incr(key, 3), 3);
          await sleep(seconds * 1000 + 1200);
          assert.equal(await store.incr(key), 1);
        } finally {
          await store.backend.destroy?.();
          await store.close();
        }
      },
      (options.minExpirySeconds ?? 1) * 1000 + 60_000,
    );
  });
}

/** A chord's callback fires exactly once, also with redelivered members. */
export function chordTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "chords", (ctx) => {
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
  });
}

/** Groups save, restore and delete. */
export function groupTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "groups", (ctx) => {
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
}

/** Reads: unknown ids, batches, forget. */
export function readTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "reads", (ctx) => {
    api.it(
      "getMany returns metas in order, PENDING for unknown ids",
      async () => {
        const ids = Array.from({ length: 5 }, () => id());
        await Promise.all(ids.slice(0, 4).map((taskId, i) => ctx.store().markSuccess(taskId, i)));
        const metas = await ctx.store().getMany(ids);
        assert.deepEqual(
          metas.map((m) => m.taskId),
          ids,
        );
        assert.deepEqual(
          metas.map((m) => m.result),
          [0, 1, 2, 3, null],
        );
        assert.equal(metas[4]?.status, "PENDING");
      },
      options.timeoutMs,
    );
    api.it(
      "getMany reads beyond one batch (130 ids)",
      async () => {
        const ids = Array.from({ length: 130 }, () => id());
        await Promise.all(ids.map((taskId) => ctx.store().markSuccess(taskId, taskId)));
        const metas = await ctx.store().getMany(ids);
        assert.deepEqual(
          metas.map((m) => m.result),
          ids,
        );
      },
      Math.max(options.timeoutMs ?? 60_000, 120_000),
    );
    api.it(
      "forget deletes the record",
      async () => {
        const taskId = id();
        await ctx.store().markSuccess(taskId, 1);
        await ctx.store().forget(taskId);
        await assertPersisted(ctx, taskId, null);
      },
      options.timeoutMs,
    );
  });
}

/** `waitFor` returns ready states, times out and aborts. */
export function waitTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "waiting", (ctx) => {
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
}

/** Expired records are never returned, and cleanup removes them. */
export function expiryTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "expiry", (ctx) => {
    const seconds = options.minExpirySeconds ?? 1;
    api.it(
      "an expired record is hidden on read and removed by cleanup",
      async () => {
        const store = await options.createStore({ expires: seconds });
        try {
          const [expiring, group] = [id("exp"), id("gexp")];
          await store.markSuccess(expiring, "soon gone", { metadata: { m: 1 } });
          await store.saveGroup(group, [expiring]);
          if (options.readRaw) {
            const record = await options.readRaw(store, expiring);
            assert.ok(record?.expiresAt, "the database holds an expiry for the record");
            assert.ok(
              Math.abs(record.expiresAt.getTime() - (Date.now() + seconds * 1000)) < 30_000,
            );
          }
          assert.equal((await store.getMeta(expiring)).status, "SUCCESS");
          await sleep(seconds * 1000 + 1200);
          assert.equal((await store.getMeta(expiring)).status, "PENDING", "hidden once expired");
          assert.equal(await store.restoreGroup(group), null, "expired groups are hidden too");
          const removed = await store.cleanup();
          assert.ok(removed >= 0);
          if (options.readRaw)
            assert.equal(await options.readRaw(store, expiring), null, "cleanup removed it");
        } finally {
          await store.backend.destroy?.();
          await store.close();
        }
      },
      seconds * 1000 + 60_000,
    );
    api.it(
      "cleanup leaves live records alone",
      async () => {
        const taskId = id();
        await ctx.store().markSuccess(taskId, "stays");
        await ctx.store().cleanup();
        assert.equal((await ctx.store().getMeta(taskId)).result, "stays");
      },
      options.timeoutMs,
    );
    api.it(
      "a store with expires: null keeps records without expiry",
      async () => {
        const store = await options.createStore({ expires: null });
        try {
          const taskId = id();
          await store.markSuccess(taskId, 1);
          if (options.readRaw)
            assert.equal((await options.readRaw(store, taskId))?.expiresAt, null);
          assert.equal((await store.getMeta(taskId)).status, "SUCCESS");
        } finally {
          await store.backend.destroy?.();
          await store.close();
        }
      },
      options.timeoutMs,
    );
  });
}

/** Bad ids, metadata and oversize results are refused with typed errors and change nothing. */
export function badInputTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "badInput", (ctx) => {
    const t = options.timeoutMs;
    const badIds = ["", " ", "a/b", "x\u0000y", "line\nbreak", "q?x", "h#x", "..", "x".repeat(201)];
    api.it(
      "malformed ids get InvalidIdError from every entry point",
      async () => {
        for (const bad of badIds) {
          await assert.rejects(
            ctx.store().markSuccess(bad, 1),
            InvalidIdError,
            JSON.stringify(bad),
          );
          await assert.rejects(ctx.store().getMeta(bad), InvalidIdError);
          await assert.rejects(ctx.store().incr(bad), InvalidIdError);
          await assert.rejects(ctx.store().saveGroup(bad, []), InvalidIdError);
        }
      },
      t,
    );
    const hostile: [string, Record<string, unknown>][] = [
      ["$where", { $where: "sleep(1000)" }],
      ["a.b", { "a.b": 1 }],
      ["__proto__", JSON.parse('{"__proto__": {"polluted": true}}')],
      ["nested $gt", { filter: { $gt: "" } }],
      ["constructor", { constructor: 1 }],
    ];
    for (const [label, metadata] of hostile) {
      api.it(
        `metadata key ${label} is refused and nothing changes`,
        async () => {
          const taskId = id();
          await ctx.store().markQueued(taskId, { metadata: { safe: 1 } });
          await assert.rejects(
            ctx.store().markSuccess(taskId, 1, { metadata }),
            InvalidMetadataError,
          );
          await assertPersisted(ctx, taskId, { status: "QUEUED", metadata: { safe: 1 } });
          assert.equal(
            ({} as Record<string, unknown>).polluted,
            undefined,
            "no prototype pollution",
          );
        },
        t,
      );
    }
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const unencodable: [string, unknown][] = [
      ["a circular object", circular],
      ["a function", () => 1],
      ["a symbol", Symbol("s")],
      ["a Map", new Map([[1, 2]])],
      [
        "a class instance",
        new (class Widget {
          x = 1;
        })(),
      ],
      ["an object shaped like a kombu marker", { __type__: "datetime", __value__: "x" }],
    ];
    for (const [label, value] of unencodable) {
      api.it(
        `${label} as a result gets EncodeError and nothing is stored`,
        async () => {
          const taskId = id();
          await assert.rejects(ctx.store().markSuccess(taskId, value), EncodeError);
          await assertPersisted(ctx, taskId, null);
        },
        t,
      );
    }
    api.it(
      "unencodable metadata gets EncodeError and the stored record is unchanged",
      async () => {
        const taskId = id();
        await ctx.store().markQueued(taskId, { metadata: { safe: 1 } });
        await assert.rejects(
          ctx.store().markStarted(taskId, undefined, { metadata: { bad: circular } }),
          EncodeError,
        );
        await assertPersisted(ctx, taskId, { status: "QUEUED", metadata: { safe: 1 } });
      },
      t,
    );
    api.it(
      "a lower-case or empty state name is refused",
      async () => {
        await assert.rejects(ctx.store().storeResult(id(), 1, "success"));
        await assert.rejects(ctx.store().storeResult(id(), 1, ""));
      },
      t,
    );
  });
}

/** Closing: idempotent, and every later call rejects with StoreClosedError. */
export function lifecycleTests(api: TestApi, options: ConformanceOptions): void {
  group(api, options, "lifecycle", () => {
    api.it(
      "a closed store rejects calls with StoreClosedError; close is idempotent",
      async () => {
        const store = await options.createStore();
        await store.markSuccess(id(), 1);
        await store.backend.destroy?.();
        await store.close();
        await store.close();
        await assert.rejects(store.getMeta(id()), StoreClosedError);
        await assert.rejects(store.markSuccess(id(), 1), StoreClosedError);
        await assert.rejects(store.incr(id()), StoreClosedError);
      },
      options.timeoutMs,
    );
    api.it(
      "a store closed before first use closes cleanly",
      async () => {
        const store = await options.createStore();
        await store.close();
        await store.close();
      },
      options.timeoutMs,
    );
  });
}

/** Every group of the suite by name; {@link runConformanceSuite} registers them all. */
export const SUITE_GROUPS: Record<SuiteGroup, (api: TestApi, options: ConformanceOptions) => void> =
  {
    states: statesTests,
    results: resultTests,
    metadata: metadataTests,
    stateRules: stateRuleTests,
    races: raceTests,
    counters: counterTests,
    chords: chordTests,
    groups: groupTests,
    reads: readTests,
    waiting: waitTests,
    expiry: expiryTests,
    badInput: badInputTests,
    lifecycle: lifecycleTests,
  };

/** Registers the whole suite under one describe block named after the backend. */
export function runConformanceSuite(api: TestApi, options: ConformanceOptions): void {
  api.describe(`conformance: ${options.name}`, () => {
    for (const register of Object.values(SUITE_GROUPS)) register(api, options);
  });
}

export type { ResultStoreOptions };
