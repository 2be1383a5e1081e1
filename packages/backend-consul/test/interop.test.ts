/**
 * Celery interop both ways, through Celery's own Consul backend (Python peer) on the same agent:
 * Celery's records read back through getMeta, ours read back through Celery's get_task_meta.
 */
import { randomUUID } from "node:crypto";
import {
  celeryPeer,
  ensureCeleryEnv,
  type PeerOp,
  type ReadResult,
} from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { parseCeleryDate, type ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consulOf, newStore, rawEntry } from "./helpers.js";

const target = serverTarget("CONSUL");

const NESTED = {
  answer: 42,
  ratio: 2.5,
  text: "héllo ✓ 😀",
  flags: [true, false, null],
  nested: { list: [1, [2, [3, { deep: "yes" }]]], empty: {} },
};
const TRACEBACK =
  'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\n    raise ValueError("boom")\nValueError: boom\n';

describe.skipIf(!target.url)(`consul interop with Celery ${target.reason}`, () => {
  const url = target.url as string;
  let store: ResultStore;
  /** Celery's URL for the same keys: the store's prefix as the URL path. */
  let celeryUrl: string;

  const peer = async (ops: PeerOp[], settings: Record<string, boolean> = {}) =>
    (await celeryPeer({ url: celeryUrl, settings, ops }, { timeoutMs: 120_000 })).results;
  const celeryRead = async (taskId: string) =>
    (await peer([{ op: "read", task_id: taskId }]))[0] as ReadResult;

  beforeAll(async () => {
    await ensureCeleryEnv();
    store = newStore(url);
    celeryUrl = `${url}/${consulOf(store).keyPrefix.replace(/\/$/, "")}`;
  }, 600_000);
  afterAll(async () => {
    await store?.backend.destroy?.();
    await store?.close();
  });

  describe("records Celery's backend wrote, read through getMeta", () => {
    it("SUCCESS with a nested JSON result and children", async () => {
      const [id, child] = [randomUUID(), randomUUID()];
      await peer([
        {
          op: "store",
          task_id: id,
          state: "SUCCESS",
          result: NESTED,
          request: { id, children: [child] },
        },
      ]);
      const celery = await celeryRead(id);
      const meta = await store.getMeta(id);
      expect(meta.status).toBe("SUCCESS");
      expect(meta.result).toEqual(NESTED);
      expect(meta.traceback).toBeNull();
      expect(meta.children).toEqual([[[child, null], null]]);
      expect(meta.dateDone).toEqual(parseCeleryDate(celery.date_done));
      expect(celery.date_done_type).toBe("str");
      expect(meta.metadata).toEqual({});
    });

    it("FAILURE with an exception and its traceback", async () => {
      const id = randomUUID();
      await peer([
        {
          op: "store",
          task_id: id,
          state: "FAILURE",
          exception: { type: "ValueError", args: ["boom"] },
          traceback: TRACEBACK,
        },
      ]);
      const celery = await celeryRead(id);
      const meta = await store.getMeta(id);
      expect(meta.status).toBe("FAILURE");
      expect(meta.result).toEqual({
        exc_type: "ValueError",
        exc_message: ["boom"],
        exc_module: "builtins",
      });
      expect(meta.traceback).toBe(TRACEBACK);
      expect(meta.dateDone).toEqual(parseCeleryDate(celery.date_done));
    });

    it("a result_extended record", async () => {
      const id = randomUUID();
      const request = {
        id,
        name: "tasks.add",
        args: [40, 2],
        kwargs: { z: 1 },
        hostname: "celery@host",
        retries: 1,
        delivery_info: { routing_key: "math" },
      };
      await peer([{ op: "store", task_id: id, state: "SUCCESS", result: 42, request }], {
        result_extended: true,
      });
      const meta = await store.getMeta(id);
      expect(meta).toMatchObject({
        status: "SUCCESS",
        result: 42,
        name: "tasks.add",
        args: [40, 2],
        kwargs: { z: 1 },
        worker: "celery@host",
        retries: 1,
        queue: "math",
      });
      expect(meta.dateDone).toBeInstanceOf(Date);
    });
  });

  describe("records we wrote, read through Celery's get_task_meta", () => {
    it("markQueued with metadata → STARTED → SUCCESS reads as Celery would have written it", async () => {
      const id = randomUUID();
      await store.markQueued(id, {
        metadata: { tenant: "acme" },
        name: "tasks.send",
        args: [1],
        kwargs: { to: "x" },
        queue: "mail",
      });
      expect((await celeryRead(id)).status).toBe("QUEUED");
      await store.markStarted(id);
      expect((await celeryRead(id)).status).toBe("STARTED");
      await store.markSuccess(id, NESTED);
      const celery = await celeryRead(id);
      const meta = await store.getMeta(id);
      expect(celery).toMatchObject({
        status: "SUCCESS",
        result: NESTED,
        traceback: null,
        task_id: id,
        name: "tasks.send",
        args: [1],
        kwargs: { to: "x" },
        queue: "mail",
      });
      expect(parseCeleryDate(celery.date_done)).toEqual(meta.dateDone);
      expect(celery.date_done_type).toBe("str"); // as for records Celery wrote: KV backends keep the isoformat text
      expect(celery.async_result).toMatchObject({ state: "SUCCESS", result: NESTED });
      expect(meta.metadata).toEqual({ tenant: "acme" });
    });

    it("FAILURE rebuilt by Celery as the exception, with the traceback", async () => {
      const id = randomUUID();
      await store.markFailure(id, new TypeError("bad input"), { traceback: TRACEBACK });
      const celery = await celeryRead(id);
      expect(celery.status).toBe("FAILURE");
      expect(celery.result).toEqual({
        exc_type: "TypeError",
        exc_message: ["bad input"],
        exc_module: "builtins",
      });
      expect(celery.result_type).toBe("TypeError");
      expect(celery.traceback).toBe(TRACEBACK);
    });

    it("groups we save restore in Celery, and Celery's groups restore here", async () => {
      const [ours, theirs, a, b] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await store.saveGroup(ours, [a, b]);
      const [restored] = (await peer([{ op: "restore_group", group_id: ours }])) as {
        task_ids: string[];
      }[];
      expect(restored?.task_ids).toEqual([a, b]);
      await peer([{ op: "save_group", group_id: theirs, task_ids: [b, a] }]);
      expect((await store.restoreGroup(theirs))?.taskIds).toEqual([b, a]);
    });
  });

  describe("where Celery's own Consul backend drops writes, and we don't", () => {
    it("Celery drops its own second write to a key (a new session cannot acquire it)", async () => {
      const id = randomUUID();
      const [, second] = await peer([
        { op: "store", task_id: id, state: "STARTED", result: null },
        { op: "store", task_id: id, state: "SUCCESS", result: 1 },
      ]);
      expect(second).not.toHaveProperty("error"); // no error: Celery ignores kv.put's false
      expect((await celeryRead(id)).status).toBe("STARTED");
      // We write over the key Celery's session holds: the lock moves to our session, nothing lost.
      expect((await store.markSuccess(id, 1)).applied).toBe(true);
      expect((await celeryRead(id)).status).toBe("SUCCESS");
    });

    it("Celery's write to a key our session holds is dropped too, unless sessionExpiry is off", async () => {
      const held = randomUUID();
      await store.markQueued(held);
      await peer([{ op: "store", task_id: held, state: "SUCCESS", result: 1 }]);
      expect((await celeryRead(held)).status).toBe("QUEUED");

      const unlocked = newStore(
        url,
        {},
        { sessionExpiry: false, prefix: consulOf(store).keyPrefix, namespace: undefined },
      );
      const free = randomUUID();
      await unlocked.markQueued(free, { metadata: { m: 1 } });
      expect(
        (await rawEntry(url, `${consulOf(store).keyPrefix}celery-task-meta-${free}`))?.session,
      ).toBeNull();
      await peer([{ op: "store", task_id: free, state: "SUCCESS", result: 1 }]);
      expect((await celeryRead(free)).status).toBe("SUCCESS");
      await unlocked.close();
    });
  });
});
