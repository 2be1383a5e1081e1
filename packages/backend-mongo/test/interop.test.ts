/**
 * Celery's own MongoBackend (Python, through @resultstore/celery-interop) and this backend read
 * each other's documents in the same collections, on both engines: the shared scenarios of
 * celeryInteropSuite, then what only MongoDB shows (the raw layout of our documents next to
 * Celery's, the extended fields Celery's reader indexes).
 */
import { randomUUID } from "node:crypto";
import {
  celeryInteropSuite,
  type Json,
  NESTED,
  type ReadResult,
} from "@resultstore/celery-interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeRawClients, DATABASE, engineTargets, freshStore, namespaceOf } from "./helpers.js";

afterAll(closeRawClients);

/** What the peer's "raw" and "raw_group" ops return for MongoDB: the document and its BSON types. */
interface RawDocument {
  document: Record<string, Json>;
  bson_types: Record<string, string>;
}

/** NESTED (the suite's SUCCESS result) as Celery's JSON serializer writes it: ASCII-escaped text. */
const NESTED_TEXT =
  '{"answer": 42, "ratio": 2.5, "text": "h\\u00e9llo \\u2713 \\ud83d\\ude00", "flags": [true, false, null], "nested": {"list": [1, [2, [3, {"deep": "yes"}]]], "empty": {}, "none": null}}';

for (const target of await engineTargets()) {
  describe.skipIf(!target.url)(
    `Celery interop on ${target.label} ${target.engine?.name ?? ""}${target.reason}`,
    () => {
      // Vitest still collects a skipped block: without a server, `url` is "" and nothing runs.
      const url = target.url ?? "";
      // FerretDB 1.x stores no array inside an array, so Celery itself cannot write children there.
      const nestedArrays = target.engine?.name !== "FerretDB";
      const celery = celeryInteropSuite(
        { describe, it, expect, beforeAll, afterAll },
        {
          name: `mongo on ${target.label}`,
          // Celery gets the server's own URL, without the test clients' pool limit.
          celeryUrl: url.replace(/\/?\?.*$/, ""),
          // The store's fresh namespace names the collections both sides use.
          settings: (store) => {
            const ns = namespaceOf.get(store) as string;
            return {
              mongodb_backend_settings: {
                database: DATABASE,
                taskmeta_collection: `${ns}_taskmeta`,
                groupmeta_collection: `${ns}_groupmeta`,
              },
            };
          },
          createStore: () => freshStore(url),
          children: nestedArrays,
          // Celery's MongoBackend stores date_done as a BSON date: get_task_meta gives a datetime.
          celeryDateDoneType: "datetime",
          // Its group document carries date_done too, which we read as the group's dateDone.
          celeryGroupTime: true,
          checkOurRecord: async ({ peer, taskId, celery: read }) => {
            expect(read.async_result.traceback).toBeNull();
            // Celery's twin: the same result, written by Celery's own MongoBackend.
            const theirs = randomUUID();
            await peer([{ op: "store", task_id: theirs, state: "SUCCESS", result: NESTED }]);
            const [raw, theirRaw] = (await peer(
              [taskId, theirs].map((id) => ({ op: "raw" as const, task_id: id })),
            )) as unknown as [RawDocument, RawDocument];
            // Celery's layout: JSON text result, a BSON date, our metadata kept beside Celery's fields.
            expect(raw.bson_types).toMatchObject({
              _id: "str",
              status: "str",
              result: "str",
              date_done: "datetime",
            });
            expect(raw.document.result).toBe(NESTED_TEXT);
            expect(raw.document.result).toBe(theirRaw.document.result);
            expect(Object.keys(raw.document)).toEqual(
              expect.arrayContaining(Object.keys(theirRaw.document)),
            );
            expect(raw.document.metadata).toEqual({ tenant: "acme" });
          },
        },
      );

      it("a task we only queued reads in Celery with result_extended: every extended field present", async () => {
        // Celery's reader indexes the six extended fields, so a new document must hold them all.
        const taskId = randomUUID();
        await celery.store().markQueued(taskId, {
          metadata: { tenant: "acme" },
          name: "tasks.send",
          args: [1],
          kwargs: { to: "x" },
          queue: "mail",
        });
        const queued = await celery.read(taskId, { result_extended: true });
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
      });

      it("a group document is Celery's: the member ids as JSON text of a flat list", async () => {
        const [ours, theirs] = [randomUUID(), randomUUID()];
        await celery.store().saveGroup(ours, ["a", "b"]);
        const [raw, , theirRaw] = (await celery.peer([
          { op: "raw_group", group_id: ours },
          { op: "save_group", group_id: theirs, task_ids: ["a", "b"] },
          { op: "raw_group", group_id: theirs },
        ])) as unknown as [RawDocument, unknown, RawDocument];
        expect(raw.document.result).toBe('["a", "b"]');
        expect(raw.document.result).toBe(theirRaw.document.result);
        expect(raw.bson_types).toMatchObject({ _id: "str", result: "str", date_done: "datetime" });
        expect(theirRaw.bson_types).toMatchObject({ result: "str", date_done: "datetime" });
      });

      it("records Celery's own backend wrote are found by state, name and date_done, and counted", async () => {
        const name = `tasks.find-${randomUUID()}`;
        const [done, running] = [randomUUID(), randomUUID()];
        const since = new Date(Date.now() - 1000);
        await celery.peer(
          [
            { op: "store", task_id: done, state: "SUCCESS", result: 1, request: { name } },
            { op: "store", task_id: running, state: "STARTED", result: null, request: { name } },
          ],
          { settings: { result_extended: true } },
        );
        const store = celery.store();
        const ids = async (filter: Parameters<typeof store.find>[0]) =>
          (await store.find(filter)).tasks.map((task) => task.taskId);
        expect(await ids({ name })).toEqual([done, running]); // STARTED has no time: the oldest
        expect(await ids({ name, state: "SUCCESS" })).toEqual([done]);
        expect(await ids({ name, state: "STARTED" })).toEqual([running]);
        expect(await ids({ name, after: since })).toEqual([done]);
        expect(await store.countByState({ name })).toMatchObject({ SUCCESS: 1, STARTED: 1 });
        const [found] = (await store.find({ name }, { limit: 1 })).tasks;
        expect(found).toMatchObject({ taskId: done, name, updatedAt: null });
      });

      if (!nestedArrays) {
        it("FerretDB: a Celery SUCCESS without children reads as Celery's empty list", async () => {
          const taskId = randomUUID();
          const [, read] = (await celery.peer([
            { op: "store", task_id: taskId, state: "SUCCESS", result: 1, request: {} },
            { op: "read", task_id: taskId },
          ])) as unknown as [unknown, ReadResult];
          expect(read.children).toEqual([]);
          expect((await celery.store().getMeta(taskId)).children).toEqual([]);
        });
      }
    },
  );
}
