// Celery interop both ways, through Celery's own Elasticsearch backend (Python, via
// @resultstore/celery-interop) on the same index: the shared scenarios of celeryInteropSuite and
// Elasticsearch's own, in both `elasticsearch_save_meta_as_text` forms. Against Elasticsearch Celery
// uses elasticsearch-py 8.x; against OpenSearch 7.13.4, the last client that accepts a server that
// is not Elasticsearch (its own venv: interop/celery/requirements-elasticsearch7.txt), and we use
// the OpenSearch client (an opensearch:// URL; Celery gets the same URL as elasticsearch://).
import { randomUUID } from "node:crypto";
import {
  celeryInteropSuite,
  NESTED,
  REQUIREMENTS,
  REQUIREMENTS_ELASTICSEARCH7,
} from "@resultstore/celery-interop";
import { ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromUrl } from "../src/index.js";
import { engineTargets, freshIndex } from "./helpers.js";

/** What the peer's "raw" op returns for Elasticsearch: Celery's own GET of the document. */
interface RawDocument {
  index: string;
  document: { found: boolean; _id: string; _source: Record<string, unknown> };
}

for (const { engine, target } of engineTargets())
  for (const asText of [true, false]) {
    const openSearch = engine === "opensearch";
    describe.skipIf(!target.url)(
      `${engine} interop with Celery, save_meta_as_text=${asText} ${target.reason}`,
      () => {
        // One index shared by both sides: Celery's URL names it in the path, as users configure it.
        const index = freshIndex("interop");
        // Our side names OpenSearch by its own scheme (also when the environment still says
        // elasticsearch:// for it, as servers started before opensearch:// existed do).
        const base = (target.url ?? "").replace(/\/+$/, "");
        const url = `${openSearch ? base.replace(/^elasticsearch/, "opensearch") : base}/${index}`;
        const celery = celeryInteropSuite(
          { describe, it, expect, beforeAll, afterAll },
          {
            name: `${engine}, save_meta_as_text=${asText}`,
            // Celery knows only elasticsearch://, for both engines.
            celeryUrl: url.replace(/^opensearch/, "elasticsearch"),
            settings: { elasticsearch_save_meta_as_text: asText },
            requirements: openSearch ? REQUIREMENTS_ELASTICSEARCH7 : REQUIREMENTS,
            createStore: async () => new ResultStore(fromUrl(url, { saveMetaAsText: asText })),
            // Our first write creates the index with the explicit mapping before Celery touches it.
            prepare: async (store) => {
              await store.markSuccess(`warm-up-${randomUUID()}`, 1);
            },
            // A group document has `@timestamp`, which we read as the group's dateDone.
            celeryGroupTime: true,
            checkOurRecord: async ({ peer, taskId }) => {
              // Celery's twin: the same extended fields, written by Celery's worker-side store.
              const theirs = randomUUID();
              const request = {
                name: "tasks.send",
                args: [1],
                kwargs: { to: "x" },
                delivery_info: { routing_key: "mail" },
              };
              const [raw, , theirRaw] = (await peer(
                [
                  { op: "raw", task_id: taskId },
                  { op: "store", task_id: theirs, state: "SUCCESS", result: NESTED, request },
                  { op: "raw", task_id: theirs },
                ],
                { settings: { result_extended: true } },
              )) as unknown as [RawDocument, unknown, RawDocument];
              // Same _id, and `result` has Celery's shape with Celery's keys in Celery's order.
              expect(raw.document._id).toBe(`celery-task-meta-${taskId}`);
              expect(theirRaw.document._id).toBe(`celery-task-meta-${theirs}`);
              const keys = (doc: RawDocument) => {
                const value = doc.document._source.result;
                expect(typeof value).toBe(asText ? "string" : "object");
                return Object.keys(
                  typeof value === "string" ? JSON.parse(value) : (value as object),
                );
              };
              expect(keys(raw)).toEqual(keys(theirRaw));
              expect(raw.document._source["@timestamp"]).toEqual(
                expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d\.\d{3})?Z$/),
              );
            },
          },
        );

        describe("mixed writers on one task", () => {
          it("a Celery worker finishing a task we queued keeps our metadata (Celery updates partially)", async () => {
            const store = celery.store();
            const taskId = randomUUID();
            await store.markQueued(taskId, { metadata: { tenant: "acme" }, name: "tasks.mixed" });
            await celery.peer([
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

          it("find and countByState list a task Celery's own backend stored, by state and name", async () => {
            const store = celery.store();
            const [done, running] = [randomUUID(), randomUUID()];
            const name = `tasks.${randomUUID()}`;
            await celery.peer(
              [
                {
                  op: "store",
                  task_id: running,
                  state: "STARTED",
                  result: null,
                  request: { name },
                },
                { op: "store", task_id: done, state: "SUCCESS", result: 1, request: { name } },
              ],
              { settings: { result_extended: true } },
            );
            const found = (await store.find({ state: "SUCCESS", name })).tasks;
            expect(found).toEqual([await store.getMeta(done)]);
            expect(found[0]).toMatchObject({ status: "SUCCESS", name, result: 1 });
            expect(found[0]?.updatedAt).toBeInstanceOf(Date); // Celery's @timestamp
            const all = (await store.find({ name })).tasks.map((task) => task.taskId);
            expect(all).toEqual([done, running]); // newest first
            expect(await store.countByState({ name })).toMatchObject({ SUCCESS: 1, STARTED: 1 });
          });

          it("a task we queued and Celery's own backend finished: found by our last state's copy only (README)", async () => {
            const store = celery.store();
            const taskId = randomUUID();
            // Not by name: Celery's meta (without result_extended) replaces ours, name included.
            const metadata = { run: randomUUID() };
            await store.markQueued(taskId, { metadata, name: "tasks.mixed" });
            await celery.peer([
              { op: "store", task_id: taskId, state: "SUCCESS", result: "celery done" },
            ]);
            // Celery rewrote only `result` and `@timestamp`: our `status` copy still says QUEUED.
            const [listed] = (await store.find({ metadata })).tasks;
            expect(listed).toMatchObject({ taskId, status: "SUCCESS", metadata });
            expect((await store.find({ metadata, state: "SUCCESS" })).tasks).toEqual([]);
            // Never listed under a state it no longer has: every record is checked in the client.
            expect((await store.find({ metadata, state: "QUEUED" })).tasks).toEqual([]);
          });
        });
      },
    );
  }
