// Celery interop both ways, through Celery's own DynamoDB backend (Python, @resultstore/celery-interop)
// on the same table: what Celery stores we read, and what we store Celery reads.
import { randomUUID } from "node:crypto";
import {
  celeryPeer,
  ensureCeleryEnv,
  type PeerRequest,
  type ReadResult,
} from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromUrl } from "../src/index.js";
import { celeryTaskKey, freshNamespace } from "./helpers.js";

const target = serverTarget("DYNAMODB");

const NESTED = {
  answer: 42,
  ratio: 2.5,
  text: "héllo ✓ 😀",
  flags: [true, false, null],
  nested: { list: [1, [2, [3, { deep: "yes" }]]], empty: {}, none: null },
};
const TRACEBACK =
  'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\n    raise ValueError("boom")\nValueError: boom\n';
const BOOM = { exc_type: "ValueError", exc_message: ["boom"], exc_module: "builtins" };

describe.skipIf(!target.url)(`dynamodb interop with Celery ${target.reason}`, () => {
  // One table shared by both sides: Celery's URL names it in the path, as users configure it.
  const table = `interop_${freshNamespace()}`;
  const url = `${(target.url as string).replace(/\/+$/, "")}/${table}`;
  let store: ResultStore;

  const peer = async (ops: PeerRequest["ops"], settings: PeerRequest["settings"] = {}) =>
    (await celeryPeer({ url, settings, ops }, { timeoutMs: 180_000 })).results;

  beforeAll(async () => {
    await ensureCeleryEnv({ log: (line) => console.error(`[celery-venv] ${line}`) });
    store = new ResultStore(fromUrl(url));
    await store.getMeta("warm-up"); // creates the table (on-demand, TTL on) before Celery touches it
  }, 15 * 60_000);

  afterAll(async () => {
    await store?.backend.destroy?.();
    await store?.close();
  });

  describe("Celery writes, resultstore reads", () => {
    it("a SUCCESS with a nested JSON result and children", async () => {
      const taskId = randomUUID();
      const child = randomUUID();
      const [, read] = (await peer([
        {
          op: "store",
          task_id: taskId,
          state: "SUCCESS",
          result: NESTED,
          request: { children: [child] },
        },
        { op: "read", task_id: taskId },
      ])) as [unknown, ReadResult];
      const meta = await store.getMeta(taskId);
      expect(meta.status).toBe("SUCCESS");
      expect(meta.result).toEqual(NESTED);
      expect(meta.traceback).toBeNull();
      expect(meta.children).toEqual([[[child, null], null]]);
      expect(meta.children).toEqual(read.children);
      expect(meta.dateDone?.getTime()).toBe(new Date(read.date_done as string).getTime());
    });

    it("a FAILURE with an exception and traceback", async () => {
      const taskId = randomUUID();
      const [, read] = (await peer([
        {
          op: "store",
          task_id: taskId,
          state: "FAILURE",
          exception: { type: "ValueError", args: ["boom"] },
          traceback: TRACEBACK,
        },
        { op: "read", task_id: taskId },
      ])) as [unknown, ReadResult];
      const meta = await store.getMeta(taskId);
      expect(meta.status).toBe("FAILURE");
      expect(meta.result).toEqual(BOOM);
      expect(meta.traceback).toBe(TRACEBACK);
      expect(meta.children).toEqual(read.children ?? null);
      expect(meta.dateDone?.getTime()).toBe(new Date(read.date_done as string).getTime());
    });

    it("a result_extended record with group, parent and request fields", async () => {
      const [taskId, groupId, parentId] = [randomUUID(), randomUUID(), randomUUID()];
      const request = {
        name: "tasks.add",
        args: [40, 2],
        kwargs: { z: { deep: [1, 2] } },
        hostname: "celery@interop",
        retries: 1,
        delivery_info: { routing_key: "celery" },
        group: groupId,
        parent_id: parentId,
      };
      const [, read] = (await peer(
        [
          { op: "store", task_id: taskId, state: "SUCCESS", result: 42, request },
          { op: "read", task_id: taskId },
        ],
        { result_extended: true },
      )) as [unknown, ReadResult];
      const meta = await store.getMeta(taskId);
      expect(meta).toMatchObject({
        status: "SUCCESS",
        result: 42,
        name: "tasks.add",
        args: [40, 2],
        kwargs: { z: { deep: [1, 2] } },
        worker: "celery@interop",
        retries: 1,
        queue: "celery",
        groupId,
        parentId,
      });
      expect(meta.dateDone?.getTime()).toBe(new Date(read.date_done as string).getTime());
    });

    it("a group saved by Celery restores with its members", async () => {
      const groupId = randomUUID();
      const members = [randomUUID(), randomUUID()];
      await peer([{ op: "save_group", group_id: groupId, task_ids: members }]);
      expect((await store.restoreGroup(groupId))?.taskIds).toEqual(members);
    });
  });

  describe("resultstore writes, Celery reads", () => {
    it("markQueued with metadata, then STARTED, then SUCCESS reads as Celery's own SUCCESS", async () => {
      const [ours, theirs] = [randomUUID(), randomUUID()];
      await store.markQueued(ours, {
        metadata: { tenant: "acme" },
        name: "tasks.send",
        args: [1],
        kwargs: { to: "x" },
        queue: "mail",
      });
      await store.markStarted(ours);
      await store.markSuccess(ours, NESTED);
      const [read, raw, , theirRaw] = (await peer([
        { op: "read", task_id: ours },
        { op: "raw", task_id: ours },
        { op: "store", task_id: theirs, state: "SUCCESS", result: NESTED },
        { op: "raw", task_id: theirs },
      ])) as [ReadResult, RawItem, unknown, RawItem];
      expect(read.status).toBe("SUCCESS");
      expect(read.result).toEqual(NESTED);
      expect(read.task_id).toBe(ours);
      expect(read.async_result.state).toBe("SUCCESS");
      expect(read.async_result.date_done_type).toBe("datetime");
      const meta = await store.getMeta(ours);
      expect(new Date(read.async_result.date_done as string).getTime()).toBe(
        meta.dateDone?.getTime(),
      );
      expect(meta.metadata).toEqual({ tenant: "acme" });
      expect(meta.name).toBe("tasks.send");
      // Same key spelling, and the blob has Celery's keys in Celery's order.
      expect(raw.item.id.S).toBe(celeryTaskKey(ours));
      expect(Object.keys(JSON.parse(raw.item.result.B))).toEqual(
        Object.keys(JSON.parse(theirRaw.item.result.B)),
      );
      expect(raw.item.timestamp.N).toEqual(expect.stringMatching(/^\d+(\.\d+)?$/));
    });

    it("a FAILURE reads back as the exception with its traceback", async () => {
      const taskId = randomUUID();
      await store.markFailure(taskId, new TypeError("bad input"), { traceback: TRACEBACK });
      const [read] = (await peer([{ op: "read", task_id: taskId }])) as [ReadResult];
      expect(read.status).toBe("FAILURE");
      expect(read.result_type).toBe("TypeError");
      expect(read.async_result.result).toEqual({
        exc_type: "TypeError",
        exc_message: ["bad input"],
        exc_module: "builtins",
      });
      expect(read.async_result.traceback).toBe(TRACEBACK);
    });

    it("ids with quotes and non-ASCII characters address the same item as Celery", async () => {
      const taskIds = [
        `it's-${randomUUID()}`,
        `quote"both'-${randomUUID()}`,
        `héllo-✓-${randomUUID()}`,
      ];
      for (const taskId of taskIds) await store.markSuccess(taskId, taskId);
      const reads = (await peer(
        taskIds.map((task_id) => ({ op: "read" as const, task_id })),
      )) as ReadResult[];
      expect(reads.map((r) => r.result)).toEqual(taskIds);
    });

    it("a group we save restores in Celery", async () => {
      const groupId = randomUUID();
      const members = [randomUUID(), randomUUID(), randomUUID()];
      await store.saveGroup(groupId, members);
      const [restored] = (await peer([{ op: "restore_group", group_id: groupId }])) as [
        { task_ids: string[] },
      ];
      expect(restored.task_ids).toEqual(members);
    });
  });

  describe("the state rules over items a Celery worker wrote (no status attribute)", () => {
    it("our writes are refused over Celery's SUCCESS, applied over its STARTED, keeping its fields", async () => {
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
        { result_extended: true },
      );
      expect((await store.markStarted(done)).applied).toBe(false);
      expect((await store.markSuccess(done, "ours")).applied).toBe(false);
      expect((await store.getMeta(done)).result).toBe("celery's");

      expect(
        (await store.markSuccess(running, "finished", { metadata: { by: "node" } })).applied,
      ).toBe(true);
      const meta = await store.getMeta(running);
      expect(meta).toMatchObject({
        status: "SUCCESS",
        result: "finished",
        name: "tasks.long",
        args: [7],
        metadata: { by: "node" },
      });
      expect((await store.markStarted(running)).applied).toBe(false);
      const [read] = (await peer([{ op: "read", task_id: running }], {
        result_extended: true,
      })) as [ReadResult];
      expect(read).toMatchObject({ status: "SUCCESS", result: "finished", name: "tasks.long" });
    });
  });
});

/** What the peer's "raw" op returns for DynamoDB: the item with its typed values. */
interface RawItem {
  table: string;
  item: { id: { S: string }; result: { B: string }; timestamp: { N: string } };
}
