// Celery interop both ways, through Celery's own Elasticsearch backend (Python, elasticsearch-py 8.x
// via @resultstore/celery-interop) on the same index: what Celery stores we read, and what we store
// Celery reads — in both `elasticsearch_save_meta_as_text` forms.
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
import { freshIndex } from "./helpers.js";

const target = serverTarget("ELASTICSEARCH");

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

/** What the peer's "raw" op returns for Elasticsearch: Celery's own GET of the document. */
interface RawDocument {
  index: string;
  document: { found: boolean; _id: string; _source: Record<string, unknown> };
}

for (const asText of [true, false]) {
  describe.skipIf(!target.url)(
    `elasticsearch interop with Celery, save_meta_as_text=${asText} ${target.reason}`,
    () => {
      // One index shared by both sides: Celery's URL names it in the path, as users configure it.
      const index = freshIndex("interop");
      const url = `${(target.url ?? "").replace(/\/+$/, "")}/${index}`;
      const settings = { elasticsearch_save_meta_as_text: asText };
      let store: ResultStore;

      const peer = async (ops: PeerRequest["ops"], extra: PeerRequest["settings"] = {}) =>
        (
          await celeryPeer(
            { url, settings: { ...settings, ...extra }, ops },
            { timeoutMs: 180_000 },
          )
        ).results;

      beforeAll(async () => {
        await ensureCeleryEnv({ log: (line) => console.error(`[celery-venv] ${line}`) });
        store = new ResultStore(fromUrl(url, { saveMetaAsText: asText }));
        // Our first write creates the index with the explicit mapping before Celery touches it.
        await store.markSuccess(`warm-up-${randomUUID()}`, 1);
      }, 15 * 60_000);

      afterAll(async () => {
        await store?.backend.destroy?.();
        await store?.close();
      });

      describe("Celery writes, resultstore reads", () => {
        it("a SUCCESS with a nested JSON result and children", async () => {
          const [taskId, child] = [randomUUID(), randomUUID()];
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
          expect(meta.metadata).toEqual({});
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
          const restored = await store.restoreGroup(groupId);
          expect(restored?.taskIds).toEqual(members);
          expect(restored?.dateDone.getTime()).toBeGreaterThan(Date.now() - 600_000);
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
          // Celery's twin: the same extended fields, written by Celery's worker-side store.
          const request = {
            name: "tasks.send",
            args: [1],
            kwargs: { to: "x" },
            delivery_info: { routing_key: "mail" },
          };
          const [read, raw, , theirRaw] = (await peer(
            [
              { op: "read", task_id: ours },
              { op: "raw", task_id: ours },
              { op: "store", task_id: theirs, state: "SUCCESS", result: NESTED, request },
              { op: "raw", task_id: theirs },
            ],
            { result_extended: true },
          )) as [ReadResult, RawDocument, unknown, RawDocument];
          expect(read.status).toBe("SUCCESS");
          expect(read.result).toEqual(NESTED);
          expect(read.task_id).toBe(ours);
          expect(read).toMatchObject({
            name: "tasks.send",
            args: [1],
            kwargs: { to: "x" },
            queue: "mail",
          });
          expect(read.async_result.state).toBe("SUCCESS");
          expect(read.async_result.date_done_type).toBe("datetime");
          const meta = await store.getMeta(ours);
          expect(new Date(read.async_result.date_done as string).getTime()).toBe(
            meta.dateDone?.getTime(),
          );
          expect(meta.metadata).toEqual({ tenant: "acme" });
          // Same _id, and `result` has Celery's shape with Celery's keys in Celery's order.
          expect(raw.document._id).toBe(`celery-task-meta-${ours}`);
          expect(theirRaw.document._id).toBe(`celery-task-meta-${theirs}`);
          const keys = (doc: RawDocument) => {
            const value = doc.document._source.result;
            expect(typeof value).toBe(asText ? "string" : "object");
            return Object.keys(typeof value === "string" ? JSON.parse(value) : (value as object));
          };
          expect(keys(raw)).toEqual(keys(theirRaw));
          expect(raw.document._source["@timestamp"]).toEqual(
            expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d\.\d{3})?Z$/),
          );
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

      describe("mixed writers on one task", () => {
        it("a Celery worker finishing a task we queued keeps our metadata (Celery updates partially)", async () => {
          const taskId = randomUUID();
          await store.markQueued(taskId, { metadata: { tenant: "acme" }, name: "tasks.mixed" });
          await peer([
            { op: "store", task_id: taskId, state: "STARTED", result: { pid: 1, hostname: "w" } },
            { op: "store", task_id: taskId, state: "SUCCESS", result: "celery done" },
          ]);
          const meta = await store.getMeta(taskId);
          expect(meta).toMatchObject({
            status: "SUCCESS",
            result: "celery done",
            metadata: { tenant: "acme" },
          });
          // Our rules hold over Celery's record: a late STARTED is refused.
          expect((await store.markStarted(taskId)).applied).toBe(false);
        });

        it("our writes are refused over Celery's SUCCESS and applied over its STARTED", async () => {
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
          expect((await store.markSuccess(done, "ours")).applied).toBe(false);
          expect((await store.getMeta(done)).result).toBe("celery's");
          const applied = await store.markSuccess(running, "finished", {
            metadata: { by: "node" },
          });
          expect(applied.applied).toBe(true);
          expect(await store.getMeta(running)).toMatchObject({
            status: "SUCCESS",
            result: "finished",
            name: "tasks.long",
            args: [7],
            metadata: { by: "node" },
          });
          const [read] = (await peer([{ op: "read", task_id: running }], {
            result_extended: true,
          })) as [ReadResult];
          expect(read).toMatchObject({ status: "SUCCESS", result: "finished", name: "tasks.long" });
        });
      });
    },
  );
}
