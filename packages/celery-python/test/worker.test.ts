// End to end with a real Celery worker: a Node producer (@resultstore/celery-producer) records the
// task QUEUED with metadata and publishes it to Redis; a `celery worker` whose result_backend is
// "resultstore+<url>" (resultstore-celery installed from its wheel) runs it and stores STARTED
// (task_track_started) and the outcome; Node reads SUCCESS or FAILURE, the result and every
// metadata key. A redelivered message (a late STARTED and a second SUCCESS) and a late RETRY after
// SUCCESS are refused: the record stays as the first SUCCESS left it.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import * as cassandraBackend from "@resultstore/backend-cassandra";
import * as consul from "@resultstore/backend-consul";
import * as cosmos from "@resultstore/backend-cosmos";
import * as dynamodb from "@resultstore/backend-dynamodb";
import * as elasticsearch from "@resultstore/backend-elasticsearch";
import * as mongo from "@resultstore/backend-mongo";
import { type CeleryWorker, startCeleryWorker } from "@resultstore/celery-interop";
import { sendTask } from "@resultstore/celery-producer";
import { type ServerTarget, serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DRIVER_DIR, packageEnv, pythonDriver, pythonEnv } from "./env.js";
import { readmeCell, writeReadmeCell } from "./readme.js";

const redis = serverTarget("REDIS");
const METADATA = { tenant: "acme", traceId: "tr-42", nested: { a: [1, 2] } };
const SETTINGS = { result_extended: true, task_track_started: true };

interface Database {
  name: string;
  /**
   * False where a record cannot hold a list of lists in `args` (result_extended): FerretDB 1.x
   * refuses nested arrays, so a chord callback's write (its args are the members' results) fails
   * there, for the Node backend as for this one, and the worker stops.
   */
  nestedArgs?: false;
  /** The row of celery-producer's worker table this database's cell is in. */
  row: string;
  target: ServerTarget;
  /** Our store and the worker's URL (after "resultstore+") on the same records. */
  pair(
    url: string,
    ns: string,
  ): Promise<{ store: ResultStore; workerUrl: string; settings: object }>;
}

const trimmed = (url: string) => url.replace(/\/+$/, "");

const mongoPair = async (url: string, ns: string) => {
  const workerUrl = `${trimmed(url)}/resultstore_celery_e2e`;
  const store = await createStore({
    url: workerUrl,
    backends: [mongo],
    backendOptions: { namespace: ns },
  });
  const settings = {
    mongodb_backend_settings: {
      taskmeta_collection: `${ns}_taskmeta`,
      groupmeta_collection: `${ns}_groupmeta`,
    },
  };
  return { store, workerUrl, settings };
};

const DATABASES: Database[] = [
  {
    name: "mongo (FerretDB)",
    nestedArgs: false,
    row: "mongo",
    target: serverTarget("MONGO"),
    pair: mongoPair,
  },
  {
    name: "mongo-java",
    row: "mongo-java",
    target: serverTarget("MONGO_JAVA", "mongo-java"),
    pair: mongoPair,
  },
  {
    name: "dynamodb",
    row: "dynamodb",
    target: serverTarget("DYNAMODB"),
    async pair(url, ns) {
      const workerUrl = `${trimmed(url)}/${ns}`;
      return {
        store: await createStore(workerUrl, { backends: [dynamodb] }),
        workerUrl,
        settings: {},
      };
    },
  },
  {
    name: "consul",
    row: "consul",
    target: serverTarget("CONSUL"),
    async pair(url, ns) {
      const workerUrl = `${trimmed(url)}/rs-py-e2e/${ns}`; // the URL path is the key prefix
      return {
        store: await createStore(workerUrl, { backends: [consul] }),
        workerUrl,
        settings: {},
      };
    },
  },
  {
    name: "cosmos",
    row: "cosmos",
    target: serverTarget("COSMOS"),
    async pair(url, ns) {
      const caFile = process.env.RESULTSTORE_COSMOS_CA;
      const store = await createStore({
        url,
        backends: [cosmos],
        backendOptions: { namespace: ns, ...(caFile ? { ca: readFileSync(caFile) } : {}) },
      });
      const container = (store.backend as unknown as { containerName: string }).containerName;
      return { store, workerUrl: url, settings: { cosmosdbsql_collection_name: container } };
    },
  },
  {
    name: "elasticsearch",
    row: "elasticsearch",
    target: serverTarget("ELASTICSEARCH"),
    async pair(url, ns) {
      const workerUrl = `${trimmed(url)}/${ns}`; // the URL path names the index, on both sides
      return {
        store: await createStore(workerUrl, { backends: [elasticsearch] }),
        workerUrl,
        settings: {},
      };
    },
  },
  {
    name: "cassandra",
    row: "cassandra",
    target: serverTarget("CASSANDRA"),
    async pair(url, ns) {
      // Our namespace is a keyspace of its own; the worker's URL names it as its path.
      const store = await createStore({
        url,
        backends: [cassandraBackend],
        backendOptions: { namespace: ns },
      });
      return { store, workerUrl: `${trimmed(url)}/${ns}`, settings: {} };
    },
  },
];

for (const db of DATABASES) {
  describe.skipIf(!redis.url || !db.target.url)(
    `a real Celery worker with resultstore+ on ${db.name} ${redis.reason}${db.target.reason}`,
    () => {
      const ns = `e2e${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const queue = `rs-py-e2e-${ns}`;
      let store: ResultStore;
      let broker: Redis;
      let worker: CeleryWorker;
      let workerUrl: string;
      let workerSettings: Record<string, unknown>;

      beforeAll(async () => {
        const { site } = await packageEnv();
        broker = new Redis(redis.url as string);
        const pair = await db.pair(db.target.url as string, ns);
        store = pair.store;
        workerUrl = pair.workerUrl;
        workerSettings = { ...pair.settings, ...SETTINGS };
        await store.getMeta("warm-up"); // our side creates the table / indexes first
        worker = await startCeleryWorker({
          url: pair.workerUrl,
          broker: redis.url as string,
          queue,
          settings: { ...pair.settings, ...SETTINGS },
          app: {
            module: "worker_app",
            cwd: DRIVER_DIR,
            env: pythonEnv(site) as Record<string, string>,
          },
        });
      }, 300_000);
      afterAll(async () => {
        await worker?.stop();
        await broker?.del(queue, `_kombu.binding.${queue}`, "unacked", "unacked_index");
        await broker?.quit();
        await (store?.backend as { destroy?: () => Promise<void> })?.destroy?.().catch(() => {});
        await store?.close();
      });

      let succeededId: string;
      /** What this run proved, in the order of the tests: the README cell is built from it. */
      const proved: string[] = [];

      it("SUCCESS: Node reads the result and every metadata key through STARTED and SUCCESS", async () => {
        const id = await sendTask(store, broker, "e2e.add", {
          args: [2, 3],
          queue,
          metadata: METADATA,
        });
        expect((await worker.waitForTask(id)).outcome).toBe("succeeded");
        const meta = await store.waitFor(id, { timeout: 10_000, interval: 100 });
        expect(meta).toMatchObject({ status: "SUCCESS", result: 5, metadata: METADATA });
        expect(meta).toMatchObject({ name: "e2e.add", args: [2, 3], queue });
        expect(meta.worker).toMatch(/^e2e-\d+@/); // the worker's own extended field, merged in
        expect(meta.dateDone).toBeInstanceOf(Date);
        succeededId = id;
        proved.push("SUCCESS 5");
      });

      it("FAILURE: the exception, the traceback and the metadata", async () => {
        const id = await sendTask(store, broker, "e2e.fail", {
          args: ["boom"],
          queue,
          metadata: METADATA,
        });
        expect((await worker.waitForTask(id)).outcome).toBe("raised");
        const meta = await store.waitFor(id, { timeout: 10_000, interval: 100 });
        expect(meta).toMatchObject({
          status: "FAILURE",
          result: { exc_type: "ValueError", exc_message: ["boom"], exc_module: "builtins" },
          metadata: METADATA,
        });
        expect(meta.traceback).toContain("ValueError: boom");
        proved.push('FAILURE ValueError("boom") + traceback', "metadata kept");
      });

      it("a redelivered message after SUCCESS (STARTED, then SUCCESS 20) is refused", async () => {
        const before = await store.getMeta(succeededId);
        const output = worker.output().length;
        await sendTask(store, broker, "e2e.add", { taskId: succeededId, args: [10, 10], queue });
        await until(() => worker.output().slice(output).includes(`[${succeededId}] succeeded`));
        const after = await store.getMeta(succeededId);
        expect(after).toMatchObject({ status: "SUCCESS", result: 5, metadata: METADATA });
        expect(after.dateDone).toEqual(before.dateDone);
        proved.push("redelivery after SUCCESS refused");
      });

      it("a late RETRY after SUCCESS is refused", async () => {
        const output = worker.output().length;
        await sendTask(store, broker, "e2e.retry", { taskId: succeededId, queue });
        await until(() => worker.output().slice(output).includes(`[${succeededId}] retry`));
        expect(await store.getMeta(succeededId)).toMatchObject({
          status: "SUCCESS",
          result: 5,
          metadata: METADATA,
        });
        proved.push("late RETRY refused");
      });

      it("a Python producer (record_queued_on_publish): QUEUED with metadata, kept through SUCCESS", async () => {
        const [id] = await pythonDriver({
          url: workerUrl,
          settings: { ...workerSettings, broker_url: redis.url },
          ops: [{ op: "publish", name: "e2e.add", args: [1, 2], queue, metadata: METADATA }],
        });
        expect(typeof id).toBe("string");
        expect((await worker.waitForTask(id as string)).outcome).toBe("succeeded");
        const meta = await store.waitFor(id as string, { timeout: 10_000, interval: 100 });
        expect(meta).toMatchObject({
          status: "SUCCESS",
          result: 3,
          metadata: METADATA,
          name: "e2e.add",
        });
      });

      /** Publishes a chord of e2e.add (see driver.py's publish_chord): its callback's and group's ids. */
      const chord = async (options: Record<string, unknown>) => {
        const [answer] = await pythonDriver({
          url: workerUrl,
          settings: { ...workerSettings, broker_url: redis.url },
          ops: [{ op: "chord", queue, ...options }],
        });
        return answer as { id: string; group: string };
      };
      /** e2e.add(1, 1), (2, 2), (3, 3): the callback e2e.total gets [2, 4, 6]. */
      const THREE = [
        [1, 1],
        [2, 2],
        [3, 3],
      ];
      /** How often the worker ran the callback `id`, and that it ran once, with SUCCESS `total`. */
      const ranOnce = async (id: string, total: number) => {
        const ran = () => worker.output().split(`e2e.total[${id}] succeeded`).length - 1;
        await until(() => ran() > 0, 60_000);
        expect(await store.waitFor(id, { timeout: 10_000, interval: 100 })).toMatchObject({
          status: "SUCCESS",
          result: total,
        });
        await new Promise((r) => setTimeout(r, 1000)); // a second run would come right after
        expect(ran()).toBe(1);
      };

      it.skipIf(db.nestedArgs === false)(
        "a chord counts its members in the member set and runs its callback once",
        async () => {
          const { id } = await chord({ members: THREE });
          await ranOnce(id, 12);
        },
      );

      // The first member's message is published twice, and the last member is held back 5 s, so
      // the worker (solo pool) finishes member 1, member 2 and member 1 again before member 3.
      // Counted by Celery's incr, the third finish fires the callback early: it joins a group whose
      // member 3 cannot run, times out and fails the callback with a ChordError.
      it.skipIf(db.nestedArgs === false)(
        "a chord with a member delivered twice runs its callback once, after the last member",
        async () => {
          const { id, group } = await chord({ members: THREE, duplicate: 0, last_countdown: 5 });
          await ranOnce(id, 12);
          expect(worker.output()).not.toContain(`Chord '${group}' raised`); // no early, failed run
          proved.push("chord with a member delivered twice: callback once");
        },
      );

      it("a chord with a failed member fails its callback with a ChordError, as Celery does", async () => {
        const { id } = await chord({ members: THREE, fail: 1 });
        const meta = await store.waitFor(id, { timeout: 60_000, interval: 200 });
        expect(meta).toMatchObject({
          status: "FAILURE",
          result: { exc_type: "ChordError", exc_module: "celery.exceptions" },
        });
        expect(String((meta.result as { exc_message: unknown[] }).exc_message[0])).toContain(
          "ValueError('boom')",
        );
        expect(worker.output()).not.toContain(`e2e.total[${id}] succeeded`);
      });

      it('the worker table\'s column "with resultstore-celery" says what this run proved', () => {
        const cell = proved.join(", ");
        if (process.env.RESULTSTORE_UPDATE_README) return writeReadmeCell(db.row, cell);
        expect(readmeCell(db.row)).toBe(cell);
      });
    },
  );
}

async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
