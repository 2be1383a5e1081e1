/**
 * `find` and `countByState` on MongoDB beyond the conformance suite: the indexes provisioning
 * creates (or leaves to the operator), documents in Celery's own layout (no `updated_at`) found
 * by state, name and `date_done`, ties that the index orders differently from `find`, and bad
 * queries that never reach the server.
 */
import { randomUUID } from "node:crypto";
import { InvalidQueryError, type ResultStore, type TaskFilter } from "@resultstore/core";
import type { Document } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import type { MongoBackendOptions } from "../src/index.js";
import {
  closeRawClients,
  commandNames,
  DATABASE,
  engineTargets,
  freshStore,
  namespaceOf,
  rawClient,
  rawTask,
  withRecordingClient,
} from "./helpers.js";

afterAll(closeRawClients);

const FIND_KEYS = [
  { status: 1, updated_at: 1, date_done: 1, _id: 1 },
  { updated_at: 1, date_done: 1, _id: 1 },
];
const WILDCARD = { "metadata.$**": 1 };

for (const target of await engineTargets()) {
  const engine = target.engine ? `${target.engine.name} ${target.engine.version}` : "";
  describe.skipIf(!target.url)(`find on ${target.label} ${engine}${target.reason}`, () => {
    const url = target.url as string;
    const ferretdb = target.engine?.name === "FerretDB";
    const mongod = target.engine?.name === "MongoDB" && target.label !== "mongo-java";
    const withStore = async (
      body: (store: ResultStore) => Promise<void>,
      options?: MongoBackendOptions,
    ) => {
      const store = await freshStore(url, {}, options);
      try {
        await body(store);
      } finally {
        await store.backend.destroy?.();
        await store.close();
      }
    };
    const tasks = (store: ResultStore) =>
      rawClient(url)
        .db(DATABASE)
        .collection<{ _id: string } & Document>(`${namespaceOf.get(store)}_taskmeta`);
    const indexKeys = async (store: ResultStore) =>
      (await tasks(store).indexes()).map((index) => index.key);
    /** Every page of `filter`, `limit` at a time: the task ids in the order returned. */
    const pageAll = async (
      store: ResultStore,
      filter: TaskFilter,
      order: "newest" | "oldest",
      limit: number,
    ) => {
      const found: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.find(filter, { limit, order, ...(cursor && { cursor }) });
        found.push(...page.tasks.map((task) => task.taskId));
        cursor = page.cursor ?? undefined;
      } while (cursor);
      return found;
    };

    it("stores updated_at as a BSON date: the write's moment, date_done's own when ready", async () => {
      await withStore(async (store) => {
        await store.markQueued("t1");
        const queued = await rawTask(url, store, "t1");
        expect(queued?.updated_at).toBeInstanceOf(Date);
        expect(queued?.date_done).toBeNull();
        await store.markSuccess("t1", 1);
        const done = await rawTask(url, store, "t1");
        expect(done?.updated_at).toEqual(done?.date_done);
        expect((await store.getMeta("t1")).updatedAt).toEqual(done?.updated_at);
      });
    });

    it("provisioning creates find's indexes, and the metadata wildcard where the engine has one", async () => {
      await withStore(async (store) => {
        await store.markQueued("t1");
        const keys = await indexKeys(store);
        expect(keys).toEqual(expect.arrayContaining(FIND_KEYS));
        // FerretDB 1.x accepts a wildcard spec, then fails every insert: never created there.
        if (ferretdb) expect(keys).not.toContainEqual(WILDCARD);
        else expect(keys).toContainEqual(WILDCARD);
      });
      await withStore(
        async (store) => {
          await store.markQueued("t1");
          const keys = await indexKeys(store);
          expect(keys).toEqual(expect.arrayContaining(FIND_KEYS));
          expect(keys).not.toContainEqual(WILDCARD);
        },
        { metadataIndex: false },
      );
    });

    it("createIndexes: false sends no createIndex, and find still answers", async () => {
      await withRecordingClient(url, async (client, sent) => {
        await withStore(
          async (store) => {
            await store.markQueued("t1", { metadata: { n: 1 } });
            expect(commandNames(sent)).not.toContain("createIndexes");
            expect(await indexKeys(store)).toEqual([{ _id: 1 }]);
            const found = await store.find({ metadata: { n: 1 } });
            expect(found.tasks.map((task) => task.taskId)).toEqual(["t1"]);
          },
          { client, createIndexes: false },
        );
      });
    });

    it("finds documents in Celery's layout by state, name and date_done, among ours, in time order", async () => {
      await withStore(async (store) => {
        const now = Date.now();
        await store.markSuccess("ours-old", 1, { request: { name: "tasks.add" } });
        await tasks(store).updateOne(
          { _id: "ours-old" },
          { $set: { updated_at: new Date(now - 30_000), date_done: new Date(now - 30_000) } },
        );
        const celery = (id: string, status: string, dateDone: Date | string | null) => ({
          _id: id,
          status,
          result: "1",
          traceback: null,
          children: [],
          date_done: dateDone,
          name: "tasks.add",
          args: [],
          kwargs: {},
          worker: null,
          retries: 0,
          queue: null,
        });
        await tasks(store).insertMany([
          celery("celery-done", "SUCCESS", new Date(now - 20_000)),
          celery("celery-failed", "FAILURE", new Date(now - 40_000)),
          celery("celery-pending", "STARTED", null),
          // Celery before 5.3.4 wrote ISO text: it sorts apart from dates, so it is never listed.
          celery("celery-text", "SUCCESS", new Date(now - 10_000).toISOString()),
        ]);
        await store.markStarted("ours-new", undefined, { request: { name: "tasks.add" } });
        const all = ["ours-new", "celery-done", "ours-old", "celery-failed", "celery-pending"];
        for (const limit of [1, 2, 10]) {
          expect(await pageAll(store, {}, "newest", limit)).toEqual(all);
          expect(await pageAll(store, {}, "oldest", limit)).toEqual([...all].reverse());
        }
        expect(await pageAll(store, { state: "SUCCESS", name: "tasks.add" }, "newest", 1)).toEqual([
          "celery-done",
          "ours-old",
        ]);
        expect(await pageAll(store, { state: "STARTED" }, "oldest", 1)).toEqual([
          "celery-pending",
          "ours-new",
        ]);
        const range = { after: new Date(now - 35_000), before: new Date(now - 15_000) };
        expect(await pageAll(store, range, "newest", 1)).toEqual(["celery-done", "ours-old"]);
        expect(await store.countByState({ name: "tasks.add" })).toMatchObject({
          SUCCESS: 2,
          FAILURE: 1,
          STARTED: 2,
        });
        expect(await store.countByState(range)).toMatchObject({ SUCCESS: 2, STARTED: 0 });
        const [celeryDone] = (await store.find({ state: "SUCCESS" }, { limit: 1 })).tasks;
        expect(celeryDone).toMatchObject({ taskId: "celery-done", updatedAt: null });
      });
    });

    it("records sharing a millisecond page in task id order, though the index puts unready ones first", async () => {
      await withStore(async (store) => {
        await store.markQueued("warm-up"); // provisioned
        const time = new Date(Date.now() - 5000);
        const ours = (id: string, status: string, at: Date, done: Date | null) => ({
          _id: id,
          status,
          result: "null",
          traceback: null,
          children: null,
          date_done: done,
          updated_at: at,
          expires_at: null,
          metadata: { run: "ties" },
        });
        const before = new Date(time.getTime() - 1);
        const after = new Date(time.getTime() + 1);
        // In the index, a millisecond's records go by date_done first: a2, a4, then a1, a3.
        await tasks(store).insertMany([
          ours("a1", "SUCCESS", time, time),
          ours("a2", "STARTED", time, null),
          ours("a3", "SUCCESS", time, time),
          ours("a4", "STARTED", time, null),
          ours("a0", "SUCCESS", before, before),
          ours("a5", "STARTED", after, null),
        ]);
        const oldest = ["a0", "a1", "a2", "a3", "a4", "a5"];
        for (const limit of [1, 2, 3, 4, 6]) {
          expect(await pageAll(store, { metadata: { run: "ties" } }, "oldest", limit)).toEqual(
            oldest,
          );
          expect(await pageAll(store, { metadata: { run: "ties" } }, "newest", limit)).toEqual(
            [...oldest].reverse(),
          );
        }
      });
    });

    it("a full page whose last millisecond ends inside it takes one find per kind of document", async () => {
      await withRecordingClient(url, async (client, sent) => {
        await withStore(
          async (store) => {
            await store.markQueued("warm-up"); // provisioned
            const start = Date.now() - 5000;
            await tasks(store).insertMany(
              [0, 1, 2, 3, 4].map((i) => ({
                _id: `m${i}`,
                status: "SUCCESS",
                result: "null",
                traceback: null,
                children: null,
                date_done: new Date(start + i),
                updated_at: new Date(start + i),
                expires_at: null,
                metadata: { run: "distinct" },
              })),
            );
            sent.length = 0;
            const page = await store.find({ metadata: { run: "distinct" } }, { limit: 2 });
            expect(page.tasks.map((task) => task.taskId)).toEqual(["m4", "m3"]);
            // Ours and Celery's; no third find re-reading the last millisecond by _id.
            expect(commandNames(sent).filter((name) => name === "find")).toHaveLength(2);
          },
          { client },
        );
      });
    });

    it("metadata values are compared as values, never read as operators", async () => {
      await withStore(async (store) => {
        await store.markQueued("literal", { metadata: { note: "$ne", n: 0 } });
        await store.markQueued("other", { metadata: { note: "x", n: 1 } });
        const found = await store.find({ metadata: { note: "$ne" } });
        expect(found.tasks.map((task) => task.taskId)).toEqual(["literal"]);
        expect((await store.find({ metadata: { n: 0 } })).tasks.map((t) => t.taskId)).toEqual([
          "literal",
        ]);
      });
    });

    it("a bad query is refused before anything reaches the server", async () => {
      await withRecordingClient(url, async (client, sent) => {
        await withStore(
          async (store) => {
            await store.markQueued("t1"); // connected and provisioned
            sent.length = 0;
            const bad: (() => Promise<unknown>)[] = [
              () => store.find({ metadata: { $where: "sleep(1000)" } }),
              () => store.find({ metadata: { a: { $gt: "" } as never } }),
              () => store.find({ metadata: { "a.b": 1 } }),
              () => store.find({ state: { $ne: "x" } as never }),
              () => store.find({ name: { $regex: "." } as never }),
              () => store.find({ after: "2020-01-01" as never }),
              () => store.countByState({ metadata: { a: [1] as never } }),
            ];
            for (const call of bad) await expect(call()).rejects.toThrow(InvalidQueryError);
            expect(commandNames(sent)).toEqual([]);
          },
          { client },
        );
      });
    });

    // Not run against FerretDB or mongo-java-server, which have no query planner to ask.
    it.runIf(mongod)(
      "MongoDB answers each find query from an index, with no in-memory sort",
      async () => {
        await withRecordingClient(url, async (client, sent) => {
          await withStore(
            async (store) => {
              await store.markSuccess(randomUUID(), 1, { metadata: { run: "plan" } });
              await store.markStarted(randomUUID(), undefined, { metadata: { run: "plan" } });
              sent.length = 0;
              await store.find({ state: ["SUCCESS", "FAILURE"] });
              await store.find({}, { order: "oldest" });
              const queries = sent.filter((event) => event.commandName === "find");
              expect(queries).toHaveLength(4); // ours and Celery's, twice
              for (const { command } of queries) {
                const { find, filter, sort, limit } = command;
                const explained = await client
                  .db(DATABASE)
                  .command({ explain: { find, filter, sort, limit } });
                const plan = JSON.stringify(explained.queryPlanner.winningPlan);
                expect(plan).toContain("IXSCAN");
                expect(plan).not.toMatch(/"stage":"SORT"/);
              }
            },
            { client },
          );
        });
      },
    );
  });
}
