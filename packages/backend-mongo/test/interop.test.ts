/**
 * Celery's own MongoBackend (Python, through @resultstore/celery-interop) and this backend read
 * each other's documents in the same collections.
 */
import { randomUUID } from "node:crypto";
import {
  celeryPeer,
  ensureCeleryEnv,
  type Json,
  type PeerOp,
  type ReadResult,
} from "@resultstore/celery-interop";
import { type CreateStoreOptions, parseCeleryDate, type ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeRawClients, DATABASE, engineTargets, freshStore, namespaceOf } from "./helpers.js";

afterAll(closeRawClients);

const nested = {
  rows: [{ id: 1, tags: ["a", "b"], extra: null }],
  total: 1.5,
  ok: true,
  text: "snow ☃",
};
const request = {
  name: "tasks.add",
  args: [40, 2],
  kwargs: { z: 1 },
  hostname: "celery@host",
  retries: 0,
  delivery_info: { routing_key: "celery" },
};

for (const target of await engineTargets()) {
  describe.skipIf(!target.url)(
    `Celery interop on ${target.label} ${target.engine?.name ?? ""}${target.reason}`,
    () => {
      const url = target.url as string;
      const celeryUrl = url.replace(/\/?\?.*$/, "");
      // FerretDB 1.x stores no array inside an array, so Celery itself cannot write children there.
      const nestedArrays = target.engine?.name !== "FerretDB";
      let store: ResultStore;
      const celery = async (ops: PeerOp[], extended = false) => {
        const ns = namespaceOf.get(store) as string;
        const settings = {
          mongodb_backend_settings: {
            database: DATABASE,
            taskmeta_collection: `${ns}_taskmeta`,
            groupmeta_collection: `${ns}_groupmeta`,
          },
          result_extended: extended,
        };
        return (
          // Celery gets the server's own URL, without the test clients' pool limit.
          (
            await celeryPeer({
              url: celeryUrl,
              settings: settings as Json as { [key: string]: Json },
              ops,
            })
          ).results
        );
      };

      beforeAll(async () => {
        await ensureCeleryEnv();
        store = await freshStore(url, {} satisfies Omit<CreateStoreOptions, "url">);
      }, 600_000);
      afterAll(async () => {
        await store?.backend.destroy?.();
        await store?.close();
      });

      it("reads what Celery wrote: SUCCESS with nested JSON, FAILURE with traceback, result_extended", async () => {
        const [ok, failed, extended] = [randomUUID(), randomUUID(), randomUUID()];
        const children = nestedArrays ? ["child-1"] : undefined;
        await celery([
          { op: "store", task_id: ok, state: "SUCCESS", result: nested, request: { children } },
          {
            op: "store",
            task_id: failed,
            state: "FAILURE",
            exception: { type: "ValueError", args: ["boom"] },
            traceback: "Traceback (most recent call last):\nValueError: boom\n",
          },
        ]);
        await celery(
          [{ op: "store", task_id: extended, state: "SUCCESS", result: 42, request }],
          true,
        );
        const reads = [
          ...(await celery([
            { op: "read", task_id: ok },
            { op: "read", task_id: failed },
          ])),
          ...(await celery([{ op: "read", task_id: extended }], true)),
        ] as unknown as ReadResult[];

        for (const [i, taskId] of [ok, failed, extended].entries()) {
          const theirs = reads[i] as ReadResult;
          const ours = await store.getMeta(taskId);
          expect(ours.status).toBe(theirs.status);
          expect(ours.result).toEqual(theirs.result);
          expect(ours.traceback).toBe(theirs.traceback ?? null);
          expect(ours.children).toEqual(theirs.children);
          expect(ours.dateDone?.getTime()).toBe(parseCeleryDate(theirs.date_done)?.getTime());
        }
        expect((await store.getMeta(ok)).children).toEqual(
          nestedArrays ? [[["child-1", null], null]] : [],
        );
        expect(await store.getMeta(failed)).toMatchObject({
          result: { exc_type: "ValueError", exc_message: ["boom"], exc_module: "builtins" },
        });
        expect(await store.getMeta(extended)).toMatchObject({
          name: "tasks.add",
          args: [40, 2],
          kwargs: { z: 1 },
          worker: "celery@host",
          retries: 0,
          queue: "celery",
        });
      });

      it("Celery reads what we wrote: markQueued with metadata, STARTED, SUCCESS", async () => {
        const taskId = randomUUID();
        await store.markQueued(taskId, {
          metadata: { tenant: "acme" },
          name: "tasks.send",
          args: [1],
          kwargs: { to: "x" },
          queue: "mail",
        });
        const [queued] = (await celery([{ op: "read", task_id: taskId }], true)) as unknown as [
          ReadResult,
        ];
        expect(queued).toMatchObject({
          status: "QUEUED",
          result: null,
          name: "tasks.send",
          args: [1],
          kwargs: { to: "x" },
          queue: "mail",
          worker: null,
          retries: null,
        });

        await store.markStarted(taskId);
        const children = nestedArrays ? [[["child-9", null], null]] : undefined;
        await store.markSuccess(taskId, nested, { children });
        const [read, raw] = (await celery(
          [
            { op: "read", task_id: taskId },
            { op: "raw", task_id: taskId },
          ],
          true,
        )) as unknown as [
          ReadResult,
          { document: Record<string, Json>; bson_types: Record<string, string> },
        ];
        const meta = await store.getMeta(taskId);
        expect(read.status).toBe("SUCCESS");
        expect(read.result).toEqual(nested);
        expect(read.async_result).toMatchObject({
          state: "SUCCESS",
          result: nested,
          traceback: null,
        });
        expect(read.traceback).toBeNull();
        expect(parseCeleryDate(read.date_done)?.getTime()).toBe(meta.dateDone?.getTime());
        expect(read.date_done_type).toBe("datetime");
        if (children) expect(read.children).toEqual(children);
        expect(read).toMatchObject({
          name: "tasks.send",
          args: [1],
          kwargs: { to: "x" },
          queue: "mail",
        });
        // Celery's layout: JSON text result, a BSON date, our metadata kept beside Celery's fields.
        expect(raw.bson_types).toMatchObject({
          _id: "str",
          status: "str",
          result: "str",
          date_done: "datetime",
        });
        expect(raw.document.result).toBe(
          '{"rows": [{"id": 1, "tags": ["a", "b"], "extra": null}], "total": 1.5, "ok": true, "text": "snow \\u2603"}',
        );
        expect(raw.document.metadata).toEqual({ tenant: "acme" });
      });

      it("FAILURE we write reads in Celery as the exception, with our traceback", async () => {
        const taskId = randomUUID();
        await store.markFailure(taskId, new TypeError("bad input"), {
          traceback: "Traceback: here",
        });
        const [read] = (await celery([{ op: "read", task_id: taskId }])) as unknown as [ReadResult];
        expect(read).toMatchObject({
          status: "FAILURE",
          result_type: "TypeError",
          traceback: "Traceback: here",
        });
        expect(read.async_result.result).toEqual({
          exc_type: "TypeError",
          exc_message: ["bad input"],
          exc_module: "builtins",
        });
      });

      it("groups: Celery restores ours and we restore Celery's", async () => {
        const [ours, theirs] = [randomUUID(), randomUUID()];
        await store.saveGroup(ours, ["a", "b"]);
        const [restored, , raw] = await celery([
          { op: "restore_group", group_id: ours },
          { op: "save_group", group_id: theirs, task_ids: ["c", "d"] },
          { op: "raw_group", group_id: ours },
        ]);
        expect(restored).toMatchObject({ task_ids: ["a", "b"] });
        expect((raw as { document: Record<string, Json> }).document.result).toBe('["a", "b"]');
        expect((await store.restoreGroup(theirs))?.taskIds).toEqual(["c", "d"]);
      });
    },
  );
}
