// The Celery interop scenarios every backend shares, registered into the caller's test API.
//
// celeryInteropSuite(api, options) adds, to the describe block it is called in, a store of the
// backend under test (beforeAll/afterAll) and the scenarios below, each run both ways through
// Celery's OWN backend class (interop/celery/peer.py): what Celery stores reads back through
// getMeta, and what we store reads back through Celery's get_task_meta as Celery would have
// written it. It answers a handle (store(), peer(), read()) so a backend's own interop file can add
// the tests that only make sense for that database. Vitest is passed in, never imported (as
// @resultstore/conformance does), so this package stays a plain helper. Types: ./index.d.ts.
import { randomUUID } from "node:crypto";
import { celeryPeer, ensureCeleryEnv } from "./index.mjs";

/** A nested JSON result: unicode, floats, nulls, empty containers, lists in lists. */
export const NESTED = {
  answer: 42,
  ratio: 2.5,
  text: "héllo ✓ 😀",
  flags: [true, false, null],
  nested: { list: [1, [2, [3, { deep: "yes" }]]], empty: {}, none: null },
};
/** A Python traceback as a worker would store it. */
export const TRACEBACK =
  'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\n    raise ValueError("boom")\nValueError: boom\n';
/** `ValueError('boom')` as Celery's JSON serializer stores it. */
export const BOOM = { exc_type: "ValueError", exc_message: ["boom"], exc_module: "builtins" };

/**
 * Celery's `date_done` text as a Date: an offset or Z when present, naive text meaning UTC (as
 * Celery means it). Null for anything else.
 * @param {unknown} value
 * @returns {Date | null}
 */
export function celeryDate(value) {
  if (typeof value !== "string" || value === "") return null;
  const zoned = /(?:Z|[+-]\d\d(?::?\d\d)?)$/i.test(value);
  const date = new Date(zoned ? value : `${value}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * Registers the shared Celery interop scenarios (see README.md) in the current describe block.
 * @template {import("./index.d.ts").InteropStore} S
 * @param {import("./index.d.ts").InteropTestApi} api
 * @param {import("./index.d.ts").CeleryInteropOptions<S>} options
 * @returns {import("./index.d.ts").CeleryInteropHandle<S>}
 */
export function celeryInteropSuite(api, options) {
  const { describe, it, expect, beforeAll, afterAll } = api;
  const caps = {
    children: options.children ?? true,
    extended: options.extended ?? "full",
    groups: options.groups ?? true,
    celeryDateDoneType: options.celeryDateDoneType ?? "str",
    stateRulesOverCelery: options.stateRulesOverCelery ?? true,
    celeryGroupTime: options.celeryGroupTime ?? false,
    queuedFieldsInCeleryMeta: options.queuedFieldsInCeleryMeta ?? true,
  };
  const timeoutMs = options.timeoutMs ?? 240_000;
  /** @type {S | undefined} */
  let current;

  const store = () => {
    if (!current) throw new Error(`${options.name}: the interop store is not open (beforeAll)`);
    return current;
  };
  /** @type {import("./index.d.ts").CeleryInteropHandle<S>["peer"]} */
  const peer = async (ops, peerOptions = {}) => {
    const { celeryUrl, settings } = options;
    const base = typeof settings === "function" ? settings(store()) : settings;
    const answer = await celeryPeer(
      {
        url: typeof celeryUrl === "function" ? celeryUrl(store()) : celeryUrl,
        settings: { ...base, ...peerOptions.settings },
        ops,
        allowErrors: peerOptions.allowErrors ?? false,
      },
      { timeoutMs: options.peerTimeoutMs ?? 180_000, requirements: options.requirements },
    );
    return answer.results;
  };
  /** @type {import("./index.d.ts").CeleryInteropHandle<S>["read"]} */
  const read = async (taskId, settings) =>
    /** @type {any} */ ((await peer([{ op: "read", task_id: taskId }], { settings }))[0]);
  const handle = { store, peer, read };

  beforeAll(async () => {
    await ensureCeleryEnv({
      log: (line) => console.error(`[celery-venv] ${line}`),
      requirements: options.requirements,
    });
    current = await options.createStore();
    await options.prepare?.(current);
  }, 15 * 60_000);
  afterAll(async () => {
    if (!current) return;
    if (options.destroy) await options.destroy(current);
    else {
      await current.backend.destroy?.();
      await current.close();
    }
  });

  /**
   * What every record Celery wrote must give through getMeta: Celery's own reading of it.
   * @param {string} taskId @param {import("./index.d.ts").ReadResult} celery
   */
  const sameAsCelery = async (taskId, celery) => {
    const meta = await store().getMeta(taskId);
    expect(meta.status).toBe(celery.status);
    expect(meta.result).toEqual(celery.result);
    expect(meta.traceback).toBe(celery.traceback ?? null);
    expect(celery).toHaveProperty("children");
    expect(meta.children).toEqual(celery.children ?? null);
    expect(celery.date_done_type).toBe(caps.celeryDateDoneType);
    expect(meta.dateDone).toBeInstanceOf(Date);
    expect(meta.dateDone).toEqual(celeryDate(celery.date_done));
    expect(meta.metadata).toEqual({});
    await options.checkCeleryRecord?.({ ...handle, store: store(), taskId, meta, celery });
    return meta;
  };

  describe("Celery writes, resultstore reads", () => {
    it(
      caps.children
        ? "a SUCCESS with a nested JSON result and children"
        : "a SUCCESS with a nested JSON result",
      async () => {
        const [taskId, c1, c2] = [randomUUID(), randomUUID(), randomUUID()];
        const request = caps.children ? { children: [c1, c2] } : {};
        const [, celery] = await peer([
          { op: "store", task_id: taskId, state: "SUCCESS", result: NESTED, request },
          { op: "read", task_id: taskId },
        ]);
        const meta = await sameAsCelery(taskId, /** @type {any} */ (celery));
        expect(meta.status).toBe("SUCCESS");
        expect(meta.result).toEqual(NESTED);
        expect(meta.traceback).toBeNull();
        expect(meta.children).toEqual(
          caps.children
            ? [
                [[c1, null], null],
                [[c2, null], null],
              ]
            : // Without children Celery writes [] (Mongo) or null (key-value stores): as it read.
              (celery.children ?? null),
        );
      },
      timeoutMs,
    );

    it(
      "a FAILURE with an exception and traceback",
      async () => {
        const taskId = randomUUID();
        const [, celery] = await peer([
          {
            op: "store",
            task_id: taskId,
            state: "FAILURE",
            exception: { type: "ValueError", args: ["boom"] },
            traceback: TRACEBACK,
          },
          { op: "read", task_id: taskId },
        ]);
        const meta = await sameAsCelery(taskId, /** @type {any} */ (celery));
        expect(meta.status).toBe("FAILURE");
        expect(meta.result).toEqual(BOOM);
        expect(meta.traceback).toBe(TRACEBACK);
      },
      timeoutMs,
    );

    it(
      caps.extended === "full"
        ? "a result_extended record with group, parent and request fields"
        : "a result_extended record (no extended fields stored)",
      async () => {
        const [taskId, groupId, parentId, child] = [
          randomUUID(),
          randomUUID(),
          randomUUID(),
          randomUUID(),
        ];
        const request = {
          name: "tasks.add",
          args: [40, 2],
          kwargs: { z: { deep: [1, 2] } },
          hostname: "celery@interop",
          retries: 1,
          delivery_info: { routing_key: "math" },
          group: groupId,
          parent_id: parentId,
          ...(caps.children ? { children: [child] } : {}),
        };
        const [, celery] = await peer(
          [
            { op: "store", task_id: taskId, state: "SUCCESS", result: 42, request },
            { op: "read", task_id: taskId },
          ],
          { settings: { result_extended: true } },
        );
        const meta = await sameAsCelery(taskId, /** @type {any} */ (celery));
        expect(meta).toMatchObject({ status: "SUCCESS", result: 42 });
        expect(meta.children).toEqual(
          caps.children ? [[[child, null], null]] : (celery.children ?? null),
        );
        if (caps.extended === "full") {
          expect(meta).toMatchObject({
            name: "tasks.add",
            args: [40, 2],
            kwargs: { z: { deep: [1, 2] } },
            worker: "celery@interop",
            retries: 1,
            queue: "math",
            groupId,
            parentId,
          });
        }
      },
      timeoutMs,
    );

    if (caps.groups) {
      it(
        "a group saved by Celery restores with its members",
        async () => {
          const groupId = randomUUID();
          const members = [randomUUID(), randomUUID()];
          await peer([{ op: "save_group", group_id: groupId, task_ids: members }]);
          const restored = await store().restoreGroup(groupId);
          expect(restored?.taskIds).toEqual(members);
          if (caps.celeryGroupTime) {
            expect(restored?.dateDone.getTime()).toBeGreaterThan(Date.now() - 600_000);
          }
        },
        timeoutMs,
      );
    }
  });

  describe("resultstore writes, Celery reads", () => {
    it(
      "markQueued with metadata, then STARTED, then SUCCESS reads as Celery would have written it",
      async () => {
        const [taskId, child] = [randomUUID(), randomUUID()];
        const children = [[[child, null], null]];
        await store().markQueued(taskId, {
          metadata: { tenant: "acme" },
          name: "tasks.send",
          args: [1],
          kwargs: { to: "x" },
          queue: "mail",
        });
        expect((await read(taskId)).status).toBe("QUEUED");
        await store().markStarted(taskId, { pid: 7, hostname: "node-1" });
        const started = await read(taskId);
        expect(started.status).toBe("STARTED");
        expect(started.result).toEqual({ pid: 7, hostname: "node-1" });
        await store().markSuccess(taskId, NESTED, caps.children ? { children } : {});

        const celery = await read(taskId, { result_extended: true });
        const meta = await store().getMeta(taskId);
        expect(celery.status).toBe("SUCCESS");
        expect(celery.result).toEqual(NESTED);
        expect(celery).toHaveProperty("traceback");
        expect(celery.traceback).toBeNull();
        expect(celery.task_id).toBe(taskId);
        if (caps.children) expect(celery.children).toEqual(children);
        if (caps.extended === "full" && caps.queuedFieldsInCeleryMeta) {
          expect(celery).toMatchObject({
            name: "tasks.send",
            args: [1],
            kwargs: { to: "x" },
            queue: "mail",
          });
        }
        // As for records Celery wrote: KV backends keep the isoformat text, Cassandra a datetime.
        expect(celery.date_done_type).toBe(caps.celeryDateDoneType);
        expect(meta.dateDone).toBeInstanceOf(Date);
        expect(celeryDate(celery.date_done)).toEqual(meta.dateDone);
        expect(celery.async_result).toMatchObject({
          state: "SUCCESS",
          result: NESTED,
          date_done_type: "datetime",
        });
        expect(celeryDate(celery.async_result.date_done)).toEqual(meta.dateDone);
        expect(meta.metadata).toEqual({ tenant: "acme" });
        expect(meta.name).toBe("tasks.send");
        await options.checkOurRecord?.({ ...handle, store: store(), taskId, meta, celery });
      },
      timeoutMs,
    );

    it(
      "a FAILURE reads back as the exception with its traceback",
      async () => {
        const taskId = randomUUID();
        await store().markFailure(taskId, new TypeError("bad input"), { traceback: TRACEBACK });
        const celery = await read(taskId);
        const error = { exc_type: "TypeError", exc_message: ["bad input"], exc_module: "builtins" };
        expect(celery.status).toBe("FAILURE");
        expect(celery.result).toEqual(error);
        expect(celery.result_type).toBe("TypeError");
        expect(celery.traceback).toBe(TRACEBACK);
        expect(celery.async_result).toMatchObject({
          state: "FAILURE",
          result: error,
          traceback: TRACEBACK,
        });
      },
      timeoutMs,
    );

    if (caps.groups) {
      it(
        "a group we save restores in Celery",
        async () => {
          const groupId = randomUUID();
          const members = [randomUUID(), randomUUID(), randomUUID()];
          await store().saveGroup(groupId, members);
          const [restored] = await peer([{ op: "restore_group", group_id: groupId }]);
          expect(/** @type {any} */ (restored)?.task_ids).toEqual(members);
        },
        timeoutMs,
      );
    }
  });

  if (caps.stateRulesOverCelery) {
    describe("the state rules over records Celery wrote", () => {
      it(
        "our writes are refused over Celery's SUCCESS, applied over its STARTED, keeping its fields",
        async () => {
          const [done, running] = [randomUUID(), randomUUID()];
          await peer(
            [
              { op: "store", task_id: done, state: "SUCCESS", result: "celery's" },
              {
                op: "store",
                task_id: running,
                state: "STARTED",
                result: { pid: 1 },
                request: { name: "tasks.long", args: [7] },
              },
            ],
            { settings: { result_extended: true } },
          );
          expect((await store().markStarted(done)).applied).toBe(false);
          expect((await store().markSuccess(done, "ours")).applied).toBe(false);
          expect((await store().getMeta(done)).result).toBe("celery's");

          const applied = await store().markSuccess(running, "finished", {
            metadata: { by: "node" },
          });
          expect(applied.applied).toBe(true);
          const fields = caps.extended === "full" ? { name: "tasks.long", args: [7] } : {};
          expect(await store().getMeta(running)).toMatchObject({
            status: "SUCCESS",
            result: "finished",
            ...fields,
            metadata: { by: "node" },
          });
          expect((await store().markStarted(running)).applied).toBe(false);
          const celery = await read(running, { result_extended: true });
          expect(celery).toMatchObject({
            status: "SUCCESS",
            result: "finished",
            ...(caps.extended === "full" ? { name: "tasks.long" } : {}),
          });
        },
        timeoutMs,
      );
    });
  }

  return handle;
}
