/** MongoDB-specific behaviour: URLs, the guard's details, layout, hostile input, limits, engines. */
import { randomUUID } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import {
  BackendConnectionError,
  BackendUnavailableError,
  EncodeError,
  PyDecimal,
  ResultStore,
  ValueTooLargeError,
} from "@resultstore/core";
import { type Document, MongoClient } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { MongoBackend } from "../src/index.js";
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

/** A loopback TCP proxy to host:port; `close()` stops it and cuts every connection. */
async function tcpProxy(
  host: string,
  port: number,
): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

for (const target of await engineTargets()) {
  const engine = target.engine ? `${target.engine.name} ${target.engine.version}` : "";
  describe.skipIf(!target.url)(`mongodb on ${target.label} ${engine}${target.reason}`, () => {
    const url = target.url as string;
    const withStore = async (
      body: (store: ResultStore) => Promise<void>,
      options?: Parameters<typeof freshStore>[2],
      storeOptions?: object,
    ) => {
      const store = await freshStore(url, storeOptions, options);
      try {
        await body(store);
      } finally {
        await store.backend.destroy?.();
        await store.close();
      }
    };
    const collection = (store: ResultStore, kind: string) =>
      rawClient(url)
        .db(DATABASE)
        .collection<{ _id: string } & Document>(`${namespaceOf.get(store)}_${kind}`);

    it("stores Celery's layout: JSON text result, BSON date, extended fields always present", async () => {
      await withStore(async (store) => {
        await store.markQueued("t1", { metadata: { tenant: "acme" } });
        const queued = await rawTask(url, store, "t1");
        expect(queued).toMatchObject({
          _id: "t1",
          status: "QUEUED",
          result: "null",
          traceback: null,
          children: null,
          date_done: null,
        });
        for (const field of ["name", "args", "kwargs", "worker", "retries", "queue"])
          expect(queued).toHaveProperty(field, null);
        expect(queued?.metadata).toEqual({ tenant: "acme" });
        expect(queued?.expires_at).toBeInstanceOf(Date);
        await store.markSuccess("t1", 42, { request: { groupId: "g1" } });
        const done = await rawTask(url, store, "t1");
        expect(done).toMatchObject({
          status: "SUCCESS",
          result: "42",
          group_id: "g1",
          metadata: { tenant: "acme" },
        });
        expect(done?.date_done).toBeInstanceOf(Date);
        expect(done).not.toHaveProperty("task_id");
      });
    });

    it("a write over an expired record starts afresh, as if nothing were stored", async () => {
      await withStore(async (store) => {
        await store.markSuccess("old", "first", { metadata: { stale: true } });
        await collection(store, "taskmeta").updateOne(
          { _id: "old" },
          { $set: { expires_at: new Date(Date.now() - 1000) } },
        );
        expect((await store.markStarted("old")).applied).toBe(true);
        const meta = await store.getMeta("old");
        expect(meta.status).toBe("STARTED");
        expect(meta.metadata).toEqual({});
      });
    });

    it("a new id costs one round trip; a refused late write two: the duplicate key, one status read", async () => {
      await withRecordingClient(url, async (client, sent) => {
        await withStore(
          async (store) => {
            await store.markQueued("warm-up"); // connect and create the indexes first
            sent.length = 0;
            await store.markSuccess("done", 1, { metadata: { kept: true } });
            expect(commandNames(sent)).toEqual(["update"]); // FerretDB too: its nulls ride in $max
            const raw = await rawTask(url, store, "done");
            for (const field of [
              "children",
              "name",
              "args",
              "kwargs",
              "worker",
              "retries",
              "queue",
            ])
              expect(raw).toHaveProperty(field, null);
            sent.length = 0;
            expect((await store.markStarted("done")).applied).toBe(false);
            expect(commandNames(sent)).toEqual(["update", "find"]);
            const meta = await store.getMeta("done");
            expect([meta.status, meta.result, meta.metadata]).toEqual([
              "SUCCESS",
              1,
              { kept: true },
            ]);
          },
          { client },
        );
      });
    });

    it("reads Celery's own documents (no expires_at: date_done + result_expires; old ISO-string date_done)", async () => {
      await withStore(
        async (store) => {
          const tasks = collection(store, "taskmeta");
          const recent = new Date(Date.now() - 60_000);
          await tasks.insertOne({
            _id: "c1",
            status: "SUCCESS",
            result: '{"a": [1, 2]}',
            traceback: null,
            children: [],
            date_done: recent,
          });
          await tasks.insertOne({
            _id: "c2",
            status: "SUCCESS",
            result: "1",
            traceback: null,
            children: [],
            date_done: "2020-01-01T00:00:00.123456",
          });
          await tasks.insertOne({
            _id: "c3",
            status: "SUCCESS",
            result: "1",
            traceback: null,
            children: [],
            date_done: new Date(Date.now() - 2 * 86_400_000),
          });
          expect(await store.getMeta("c1")).toMatchObject({
            status: "SUCCESS",
            result: { a: [1, 2] },
            dateDone: recent,
          });
          expect((await store.backend.read("c1"))?.expiresAt?.getTime()).toBe(
            recent.getTime() + 86_400_000,
          );
          // Older than result_expires: hidden. Cleanup, like Celery's, matches BSON dates only.
          expect((await store.getMeta("c2")).status).toBe("PENDING");
          expect((await store.getMeta("c3")).status).toBe("PENDING");
          expect(await store.cleanup()).toBe(1);
          expect(await tasks.countDocuments({ _id: "c3" })).toBe(0);
        },
        { resultExpires: 86_400 },
      );
    });

    it("refuses keys MongoDB would read as operators or paths in args/kwargs/children, storing nothing", async () => {
      await withStore(async (store) => {
        for (const request of [
          { kwargs: { "a.b": 1 } },
          { args: [{ $gt: 1 }] },
          { kwargs: { x: { "y\u0000": 1 } } },
        ]) {
          await expect(store.markSuccess("h", 1, { request })).rejects.toThrow(EncodeError);
        }
        await expect(store.markSuccess("h", 1, { children: [{ $where: "1" }] })).rejects.toThrow(
          EncodeError,
        );
        expect(await rawTask(url, store, "h")).toBeNull();
        // Values that merely look like operators are data.
        await store.markSuccess("v", { $where: "sleep(1)" }, { metadata: { q: "$gt" } });
        expect((await store.getMeta("v")).result).toEqual({ $where: "sleep(1)" });
      });
    });

    it("refuses a document BSON cannot hold before sending it", async () => {
      await withStore(async (store) => {
        // Small in JSON, over 16 MiB as BSON: every array element costs its index as a key.
        const metadata = { many: Array.from({ length: 1_500_000 }, () => 1) };
        await expect(store.markSuccess("big", null, { metadata })).rejects.toThrow(
          ValueTooLargeError,
        );
        expect(await rawTask(url, store, "big")).toBeNull();
      });
    }, 120_000);

    it("resultSerializer bson stores a queryable native value and reads it back exactly", async () => {
      await withStore(
        async (store) => {
          const when = new Date("2024-05-01T12:00:00.123Z");
          const value = {
            when,
            n: 2n ** 60n,
            d: new PyDecimal("1.10"),
            bytes: Buffer.from([0, 255]),
            list: [1, "x"],
          };
          await store.markSuccess("b1", value);
          const raw = await rawTask(url, store, "b1");
          expect(raw?.result.when).toBeInstanceOf(Date);
          expect(
            await collection(store, "taskmeta").countDocuments({ "result.when": { $gte: when } }),
          ).toBe(1);
          expect((await store.getMeta("b1")).result).toEqual(value);
          await expect(store.markSuccess("b2", { nested: { "a.b": 1 } })).rejects.toThrow(
            EncodeError,
          );
          // Beyond Int64: Decimal128 on MongoDB; FerretDB 1.x has none, so it is refused before sending.
          const huge = store.markSuccess("b3", 2n ** 70n);
          if (target.engine?.name === "FerretDB") await expect(huge).rejects.toThrow(EncodeError);
          else {
            await huge;
            expect((await store.getMeta("b3")).result).toBe(2n ** 70n);
          }
        },
        { resultSerializer: "bson" },
      );
    });

    it("uses a caller's client without closing it; ttlIndex is honoured or tolerated", async () => {
      const client = new MongoClient(url);
      const backend = new MongoBackend({
        client,
        database: DATABASE,
        namespace: `t_${randomUUID().slice(0, 8)}`,
        ttlIndex: true,
      });
      const store = new ResultStore(backend);
      await store.markSuccess("c", 1);
      await backend.destroy();
      await store.close();
      expect(await client.db(DATABASE).command({ ping: 1 })).toMatchObject({ ok: 1 });
      await client.close();
    });

    it("cleanup removes expired tasks, groups and counters in batches and counts them", async () => {
      await withStore(
        async (store) => {
          await Promise.all(Array.from({ length: 7 }, (_, i) => store.markSuccess(`e${i}`, i)));
          await store.saveGroup("g", ["e0"]);
          await store.incr("k");
          await new Promise((resolve) => setTimeout(resolve, 1500));
          await store.markSuccess("live", 1);
          expect(
            await new ResultStore(store.backend, { expires: 60 }).markSuccess("live2", 1),
          ).toMatchObject({ applied: true });
          expect(await store.cleanup()).toBe(9);
          expect((await store.getMeta("live2")).status).toBe("SUCCESS");
        },
        { cleanupBatchSize: 3 },
        { expires: 1 },
      );
    });

    it("keeps sets in <ns>_sets: each member once, the size after the add, restarted once expired", async () => {
      await withStore(async (store) => {
        const { backend } = store;
        const key = `chord-members-${randomUUID()}`;
        const later = new Date(Date.now() + 60_000);
        expect(await backend.addToSet(key, "a", later)).toBe(1);
        expect(await backend.addToSet(key, "b", later)).toBe(2);
        expect(await backend.addToSet(key, "a", later)).toBe(2);
        const sets = collection(store, "sets");
        const doc = await sets.findOne({ _id: key });
        expect(doc?.members).toEqual(["a", "b"]);
        expect((doc?.expires_at as Date | undefined)?.getTime()).toBe(later.getTime());
        // Apart from tasks and counters: a counter of the same key is its own.
        expect(await collection(store, "counters").countDocuments()).toBe(0);
        expect(await collection(store, "taskmeta").countDocuments()).toBe(0);
        expect(await store.incr(key)).toBe(1);
        // Expired but not swept yet: the upsert's insert meets the stored set (duplicate key),
        // which is deleted, and the set restarts empty.
        await sets.updateOne({ _id: key }, { $set: { expires_at: new Date(Date.now() - 1000) } });
        expect(await backend.addToSet(key, "c", later)).toBe(1);
        expect((await sets.findOne({ _id: key }))?.members).toEqual(["c"]);
        await sets.updateOne({ _id: key }, { $set: { expires_at: new Date(Date.now() - 1000) } });
        expect(await store.cleanup()).toBe(1);
        expect(await sets.countDocuments()).toBe(0);
      });
    });

    it("a server gone before anything was sent is BackendUnavailableError; ours are standalone, so the driver never re-sends", async () => {
      const [host, port] = new URL(url.replace(/^mongodb:/, "http:")).host.split(":");
      const proxy = await tcpProxy(host as string, Number(port));
      const store = await freshStore(
        `mongodb://127.0.0.1:${proxy.port}/?serverSelectionTimeoutMS=1500&heartbeatFrequencyMS=500`,
      );
      try {
        expect((await store.markSuccess(randomUUID(), 1)).applied).toBe(true);
        await proxy.close(); // the server is gone from the client's point of view
        const errors: unknown[] = [];
        for (let i = 0; i < 5 && !errors.some((e) => e instanceof BackendUnavailableError); i++)
          errors.push(await store.incr("k").catch((e: unknown) => e));
        // The first call may meet the dead pooled connection (unknown whether it was sent);
        // once the server is known to be down, nothing is sent at all.
        expect(errors.every((e) => e instanceof BackendConnectionError)).toBe(true);
        expect(errors.some((e) => e instanceof BackendUnavailableError)).toBe(true);
        expect(store.backend.isRetryable?.(errors.at(-1))).toBe(true);
      } finally {
        await store.close();
      }
      const unreachable = new ResultStore(
        new MongoBackend({ url: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500" }),
      );
      await expect(unreachable.markSuccess(randomUUID(), 1)).rejects.toThrow(
        BackendUnavailableError,
      );
      await unreachable.close();
    });

    if (target.engine?.name === "FerretDB") {
      // The reason races/counters/chords are opted out on FerretDB. When this starts failing, FerretDB
      // applies single-document updates atomically: drop the opt-outs in conformance.test.ts.
      it("warns once, naming the engine and its version, that FerretDB 1.x is unsafe", async () => {
        const warnings: string[] = [];
        const store = await freshStore(url, {}, { warn: (m: string) => warnings.push(m) });
        try {
          await store.markSuccess(randomUUID(), 1);
          await store.getMeta(randomUUID());
          expect(warnings).toHaveLength(1);
          expect(warnings[0]).toContain(`FerretDB ${target.engine?.version}`);
          expect(warnings[0]).toMatch(/UNSAFE ENGINE.*loses concurrent updates/);
        } finally {
          await store.backend.destroy?.();
          await store.close();
        }
      });

      it("FerretDB still loses concurrent updates to one document (engine defect)", async () => {
        await withStore(async (store) => {
          const counters = collection(store, "counters");
          let lost = 0;
          for (let round = 0; round < 3 && lost === 0; round++) {
            const key = `race-${round}`;
            await counters.insertOne({ _id: key, value: 0 });
            await Promise.all(
              Array.from({ length: 64 }, () =>
                counters.updateOne({ _id: key }, { $inc: { value: 1 } }),
              ),
            );
            lost = 64 - Number((await counters.findOne({ _id: key }))?.value);
          }
          expect(
            lost,
            "FerretDB kept every concurrent $inc: remove the FerretDB opt-outs",
          ).toBeGreaterThan(0);
        });
      });
    }
  });
}
