// Cassandra-specific behaviour against the real server: the guard between processes, the layout
// in Celery's table, expiry, size limits, schema handling, errors and the client's lifecycle.
import { randomUUID } from "node:crypto";
import { serverTarget, TcpProxy } from "@resultstore/conformance";
import {
  BackendConnectionError,
  BackendError,
  IncrementOutcomeUnknownError,
  ResultStore,
  StoreClosedError,
  WriteOutcomeUnknownError,
} from "@resultstore/core";
import cassandra from "cassandra-driver";
import { afterAll, describe, expect, it } from "vitest";
import { optionsFromUrl } from "../src/config.js";
import { FIND_INDEX_COLUMNS } from "../src/find.js";
import { CassandraBackend, fromUrl } from "../src/index.js";
import { createTestStore, dropKeyspace, KEYSPACE, rawClient, tableOf } from "./helpers.js";

const target = serverTarget("CASSANDRA");
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!target.url)(`cassandra backend ${target.reason}`, () => {
  const url = target.url as string;
  const stores: ResultStore[] = [];
  const track = (store: ResultStore) => {
    stores.push(store);
    return store;
  };
  /** Stores on one table with separate clients: separate processes, as far as the server can tell. */
  const peers = async (count: number) => {
    const first = track(await createTestStore(url));
    const namespace = tableOf(first).split(".")[1] as string;
    const others = Array.from({ length: count - 1 }, () =>
      track(new ResultStore(fromUrl(url, { keyspace: KEYSPACE, namespace }))),
    );
    return [first, ...others];
  };
  const cql = async (query: string, params: unknown[] = []) =>
    (await rawClient(url)).execute(query, params, { prepare: true });

  afterAll(async () => {
    for (const store of stores) await store.close();
    await dropKeyspace();
  });

  describe("the guard between processes (no in-process queue to help)", () => {
    it("exactly one SUCCESS applies and nothing unready lands after it", async () => {
      const writers = await peers(4);
      for (let round = 0; round < 5; round++) {
        const taskId = `race-${randomUUID()}`;
        const writes = writers.flatMap((store, i) => [
          store.markSuccess(taskId, `s${i}`).then((o) => ({ ...o, result: `s${i}` })),
          store.markStarted(taskId).then((o) => ({ ...o, result: "started" })),
          store.markRetry(taskId, new Error("r")).then((o) => ({ ...o, result: "retry" })),
        ]);
        const outcomes = await Promise.all(writes);
        const successes = outcomes.filter((o) => o.status === "SUCCESS" && o.applied);
        expect(successes).toHaveLength(1);
        const meta = await writers[0]?.getMeta(taskId);
        expect(meta?.status).toBe("SUCCESS");
        expect(meta?.result).toBe(successes[0]?.result);
      }
    });

    it("a writer stalled across forget and re-creation is refused: the guard's token never repeats", async () => {
      // The guard once was a counter that restarted at 1 when the partition was deleted (forget,
      // expiry): a writer that read version 2 of the old record and stalled passed the guard on a
      // re-created record with 2 writes, replacing its SUCCESS.
      const [fresh] = (await peers(1)) as [ResultStore];
      const namespace = tableOf(fresh).split(".")[1] as string;
      // Every host of the URL (a cluster's too), read as the store reads them.
      const client = new cassandra.Client({
        contactPoints: optionsFromUrl(url).contactPoints ?? [],
        localDataCenter: "datacenter1",
      });
      const stalled = track(
        new ResultStore(
          new CassandraBackend({ client, keyspace: KEYSPACE, namespace, closeClient: true }),
        ),
      );
      const taskId = `stalled-${randomUUID()}`;
      await fresh.markQueued(taskId);
      await fresh.markStarted(taskId);
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let reached = () => {};
      const atBatch = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const batch = client.batch.bind(client);
      client.batch = (async (...args: Parameters<typeof batch>) => {
        reached();
        await gate;
        client.batch = batch;
        return (batch as (...a: unknown[]) => unknown)(...args);
      }) as typeof client.batch;
      // Reads the record as STARTED after 2 writes, then stalls before its guarded batch.
      const late = stalled.markRetry(taskId, new Error("stalled"));
      await atBatch;
      await fresh.forget(taskId);
      await fresh.markQueued(taskId);
      expect((await fresh.markSuccess(taskId, "final")).applied).toBe(true);
      release();
      expect((await late).applied).toBe(false);
      const meta = await fresh.getMeta(taskId);
      expect([meta.status, meta.result]).toEqual(["SUCCESS", "final"]);
    });

    it("counters without expiry (expires: null) count and compare on a null expiry", async () => {
      const store = track(await createTestStore(url, { expires: null }));
      const key = `forever-${randomUUID()}`;
      expect(await store.incr(key)).toBe(1);
      expect(await store.incr(key, 4)).toBe(5);
      const [row] = (
        await cql(
          `SELECT TTL(value) AS ttl, expires_at FROM ${tableOf(store)}_counters WHERE key = ?`,
          [key],
        )
      ).rows;
      expect([row?.get("ttl"), row?.get("expires_at")]).toEqual([null, null]);
    });

    it("increments from separate clients are exact", async () => {
      const clients = await peers(4);
      const key = `counter-${randomUUID()}`;
      const values = await Promise.all(
        clients.flatMap((store) => Array.from({ length: 12 }, () => store.incr(key))),
      );
      expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
    });
  });

  describe("Celery's table", () => {
    it("keeps one row per task, metadata and extended fields in static columns, TTL refreshed by each write", async () => {
      const store = track(await createTestStore(url, { expires: 3600 }));
      const taskId = `layout-${randomUUID()}`;
      await store.markQueued(taskId, {
        metadata: { tenant: "acme" },
        name: "tasks.send",
        queue: "mail",
      });
      const later = new ResultStore(store.backend, { expires: 7200 });
      await later.markStarted(taskId);
      await later.markSuccess(taskId, { ok: true });
      const rows = (
        await cql(
          `SELECT status, result, TTL(result) AS ttl, TTL(rs_meta) AS meta_ttl, rs_meta, rs_version FROM ${tableOf(store)} WHERE task_id = ?`,
          [taskId],
        )
      ).rows;
      expect(rows).toHaveLength(1);
      const [row] = rows;
      expect(row?.get("status")).toBe("SUCCESS");
      expect(row?.get("result").toString()).toBe('{"ok": true}');
      expect(row?.get("rs_version")).toBe(3);
      // Metadata written at QUEUED (1 h) now lives as long as the task (2 h).
      expect(row?.get("meta_ttl")).toBeGreaterThan(7000);
      expect(row?.get("ttl")).toBeGreaterThan(7000);
      expect(JSON.parse(row?.get("rs_meta").toString())).toEqual({
        write_id: expect.any(String), // the call that wrote it last (a retried write knows itself)
        metadata: { tenant: "acme" },
        name: "tasks.send",
        queue: "mail",
      });
    });

    it("stores hostile ids as data (bound values, never CQL)", async () => {
      const store = track(await createTestStore(url));
      const taskId = "x'); DROP TABLE system.local; --";
      await store.markSuccess(taskId, "fine");
      expect((await store.getMeta(taskId)).result).toBe("fine");
    });

    it("adds its columns to a table Celery created, and refuses to touch it when createTables is false", async () => {
      const table = `celery_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      await cql(
        `CREATE TABLE ${KEYSPACE}.${table} (task_id text, status text, result blob, date_done timestamp, traceback blob, children blob, PRIMARY KEY ((task_id), date_done)) WITH CLUSTERING ORDER BY (date_done DESC)`,
      );
      const strict = track(
        new ResultStore(fromUrl(url, { keyspace: KEYSPACE, table, createTables: false })),
      );
      await expect(strict.markSuccess(randomUUID(), 1)).rejects.toThrow(/lacks column rs_version/);
      const store = track(new ResultStore(fromUrl(url, { keyspace: KEYSPACE, table })));
      await store.markSuccess("t1", 1, { metadata: { a: 1 } });
      expect((await store.getMeta("t1")).metadata).toEqual({ a: 1 });
    });

    it("with createTables false, a missing table is an error and nothing is created", async () => {
      const table = `missing_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const store = track(
        new ResultStore(fromUrl(url, { keyspace: KEYSPACE, table, createTables: false })),
      );
      await expect(store.markSuccess(randomUUID(), 1)).rejects.toBeInstanceOf(BackendError);
      const tables = await cql(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
        [KEYSPACE, table],
      );
      expect(tables.rows).toHaveLength(0);
    });
  });

  describe("find (SAI)", () => {
    const FIND_INDEXES = Object.keys(FIND_INDEX_COLUMNS);
    const indexesOf = async (table: string) =>
      (
        await cql(
          "SELECT index_name FROM system_schema.indexes WHERE keyspace_name = ? AND table_name = ?",
          [KEYSPACE, table],
        )
      ).rows
        .map((row) => String(row.get("index_name")))
        .sort();
    const ids = async (store: ResultStore, filter: Parameters<ResultStore["find"]>[0]) =>
      (await store.find(filter)).tasks.map((task) => task.taskId).sort();

    it("creates its six SAI indexes when it provisions, and adds columns and indexes to an older table", async () => {
      const store = track(await createTestStore(url));
      const table = tableOf(store).split(".")[1] as string;
      expect(await indexesOf(table)).toEqual(FIND_INDEXES.map((i) => `${table}_find_${i}`).sort());
      // A table from before find: the columns it lacks are added, then the indexes.
      const older = `older_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      await cql(
        `CREATE TABLE ${KEYSPACE}.${older} (task_id text, status text, result blob, date_done timestamp, traceback blob, children blob, rs_version int static, rs_token uuid static, rs_meta blob static, rs_expires_at timestamp static, PRIMARY KEY ((task_id), date_done)) WITH CLUSTERING ORDER BY (date_done DESC)`,
      );
      const upgraded = track(new ResultStore(fromUrl(url, { keyspace: KEYSPACE, table: older })));
      await upgraded.markSuccess("t1", 1, { request: { name: "tasks.add" }, metadata: { n: 1 } });
      expect(await indexesOf(older)).toHaveLength(6);
      expect(await ids(upgraded, { name: "tasks.add", metadata: { n: 1 } })).toEqual(["t1"]);
    });

    it("with createTables false it creates no index, and find names what is missing until the operator creates them", async () => {
      const seed = track(await createTestStore(url));
      const table = `operator_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      // The operator's table: the README's CREATE TABLE (this store's own, copied), no indexes.
      const { rows } = await cql(
        "SELECT column_name, type, kind FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
        [KEYSPACE, tableOf(seed).split(".")[1]],
      );
      const columns = rows.map(
        (row) =>
          `${row.get("column_name")} ${row.get("type")}${row.get("kind") === "static" ? " static" : ""}`,
      );
      await cql(
        `CREATE TABLE ${KEYSPACE}.${table} (${columns.join(", ")}, PRIMARY KEY ((task_id), date_done)) WITH CLUSTERING ORDER BY (date_done DESC)`,
      );
      const strict = track(
        new ResultStore(fromUrl(url, { keyspace: KEYSPACE, table, createTables: false })),
      );
      await strict.markSuccess("t1", 1);
      expect(await indexesOf(table)).toEqual([]);
      await expect(strict.find({ state: "SUCCESS" })).rejects.toThrow(/needs the SAI indexes/);
      for (const [suffix, column] of Object.entries(FIND_INDEX_COLUMNS))
        await cql(
          `CREATE INDEX IF NOT EXISTS ${table}_find_${suffix} ON ${KEYSPACE}.${table} (${column}) USING 'sai'`,
        );
      expect(await ids(strict, { state: "SUCCESS" })).toEqual(["t1"]);
    });

    it("Celery's rows (one per state, never deleted) are found by the newest one's state and date_done only", async () => {
      const store = track(await createTestStore(url));
      const table = tableOf(store);
      const insert = `INSERT INTO ${table} (task_id, status, result, date_done, traceback, children) VALUES (?, ?, ?, ?, null, null) USING TTL 3600`;
      const now = Date.now();
      const text = (value: string) => Buffer.from(value);
      await cql(insert, ["celery-1", "STARTED", text("null"), new Date(now - 20_000)]);
      await cql(insert, ["celery-1", "SUCCESS", text("5"), new Date(now - 10_000)]);
      await cql(insert, ["celery-2", "STARTED", text("null"), new Date(now - 5_000)]);
      await store.markSuccess("ours-1", 1, { request: { name: "tasks.add" } });
      expect(await ids(store, { state: "SUCCESS" })).toEqual(["celery-1", "ours-1"]);
      expect(await ids(store, { state: "STARTED" })).toEqual(["celery-2"]);
      // Celery's unready rows carry a date_done, but no effective time: no time range holds them.
      const after = new Date(now - 15_000);
      expect(await ids(store, { after })).toEqual(["celery-1", "ours-1"]);
      expect(await ids(store, { after, before: new Date(now - 1_000) })).toEqual(["celery-1"]);
      // Celery stores no name nor metadata.
      expect(await ids(store, { name: "tasks.add" })).toEqual(["ours-1"]);
      const page = await store.find({}, { order: "newest" });
      expect(page.tasks.map((task) => task.taskId)).toEqual(["ours-1", "celery-1", "celery-2"]);
      expect(page.tasks[1]?.dateDone?.getTime()).toBe(now - 10_000);
      expect(page.tasks[1]?.updatedAt).toBeNull();
      expect(await store.countByState()).toMatchObject({ SUCCESS: 2, STARTED: 1 });
    });

    it("values beyond SAI's term size, and hostile metadata keys, are stored and found (matched in the client)", async () => {
      const store = track(await createTestStore(url));
      const name = `tasks.${"n".repeat(9000)}`; // SAI silently leaves out terms over 8 KiB: ours are not indexed
      const metadata = {
        "k'] = 'x' OR ['k": "v'); DROP TABLE t; --",
        long: "é".repeat(5000),
        n: 42,
      };
      await store.markSuccess("big", 1, { request: { name }, metadata });
      await store.markSuccess("other", 1, {
        request: { name: "tasks.other" },
        metadata: { n: "42" },
      });
      expect(await ids(store, { name })).toEqual(["big"]);
      expect(await ids(store, { metadata: { long: "é".repeat(5000) } })).toEqual(["big"]);
      expect(await ids(store, { metadata })).toEqual(["big"]);
      expect(await ids(store, { metadata: { n: "42" } })).toEqual(["other"]);
      expect(await store.countByState({ name })).toMatchObject({ SUCCESS: 1 });
    });
  });

  describe("limits", () => {
    it("the default limit (3 MiB) really stores, and the server's own limit is below 8 MiB here (a real CAS write failure)", async () => {
      const store = track(await createTestStore(url, {}, { maxRecordBytes: 8 * MiB }));
      const fits = "x".repeat(3 * MiB - 1024);
      const taskId = randomUUID();
      await store.markSuccess(taskId, fits);
      expect(((await store.getMeta(taskId)).result as string).length).toBe(fits.length);
      // Over max_mutation_size (half of the dev server's 8 MiB commit log segment): refused, nothing
      // stored. The replica refuses the Paxos proposal: under Paxos v2 (our servers) it answers a CAS
      // write failure, under v1 it stayed silent and the coordinator reported a CAS write timeout.
      // Other replicas may have accepted such a proposal, so the outcome is unknown (never
      // retryable as is), and reading shows it did not land.
      const tooBig = randomUUID();
      const refused = await store.markSuccess(tooBig, "x".repeat(5 * MiB)).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(WriteOutcomeUnknownError);
      expect(String(refused)).toMatch(/may or may not have been applied/);
      expect(((refused as Error).cause as { writeType?: string }).writeType).toBe("CAS");
      expect(store.backend.isRetryable?.(refused)).toBe(false);
      expect((await store.getMeta(tooBig)).status).toBe("PENDING");
    });
  });

  describe("guard opt-out", () => {
    it("guardedWrites: false writes a plain batch, still merging and checking the rules it reads", async () => {
      const store = track(await createTestStore(url, {}, { guardedWrites: false }));
      const taskId = randomUUID();
      await store.markQueued(taskId, { metadata: { a: 1 } });
      await store.markSuccess(taskId, 2, { metadata: { b: 2 } });
      expect((await store.markStarted(taskId)).applied).toBe(false);
      const meta = await store.getMeta(taskId);
      expect([meta.status, meta.result, meta.metadata]).toEqual(["SUCCESS", 2, { a: 1, b: 2 }]);
    });
  });

  describe("sets (addToSet)", () => {
    const membersOf = async (store: ResultStore, key: string) => {
      const row = (await cql(`SELECT members FROM ${tableOf(store)}_sets WHERE key = ?`, [key]))
        .rows[0];
      return Object.keys((row?.get("members") as Record<string, Date> | null) ?? {}).sort();
    };

    it("every member lives until the last add's expiry, although Cassandra's TTLs are per element", async () => {
      const store = track(await createTestStore(url));
      const key = `set-${randomUUID()}`;
      const start = Date.now();
      expect(await store.backend.addToSet(key, "a", new Date(start + 2000))).toBe(1);
      expect(await store.backend.addToSet(key, "b", new Date(start + 60_000))).toBe(2);
      // "a" was written with a TTL of 2–3 s; the second add re-wrote it with the set's new expiry.
      await sleep(start + 4000 - Date.now());
      expect(await membersOf(store, key)).toEqual(["a", "b"]);
      expect(await store.backend.addToSet(key, "c", new Date(start + 60_000))).toBe(3);
    });

    it("an expired set restarts empty at once, while Cassandra still holds its members (whole-second TTLs)", async () => {
      const store = track(await createTestStore(url));
      let exercised = false;
      for (let attempt = 0; attempt < 5 && !exercised; attempt++) {
        // Just after a whole second, an expiry 200 ms ahead has a TTL reaching the next second.
        await sleep(1000 - (Date.now() % 1000) + 20);
        const key = `sexp-${randomUUID()}`;
        const expiresAt = new Date(Date.now() + 200);
        await store.backend.addToSet(key, "a", expiresAt);
        await sleep(expiresAt.getTime() + 50 - Date.now());
        // Only meaningful while Cassandra still stores the expired member: try again otherwise.
        if ((await membersOf(store, key)).includes("a") && Date.now() % 1000 < 800) {
          exercised = true;
          expect(await store.backend.addToSet(key, "b", new Date(Date.now() + 60_000))).toBe(1);
        }
      }
      expect(exercised).toBe(true);
    });

    it("without an expiry the members carry no TTL", async () => {
      const store = track(await createTestStore(url));
      const key = `sforever-${randomUUID()}`;
      expect(await store.backend.addToSet(key, "a", null)).toBe(1);
      expect(await store.backend.addToSet(key, "a", null)).toBe(1);
      expect(await store.backend.addToSet(key, "b", null)).toBe(2);
      const [row] = (
        await cql(`SELECT TTL(members) AS ttl FROM ${tableOf(store)}_sets WHERE key = ?`, [
          key,
        ]).catch(() => ({ rows: [] }))
      ).rows;
      // Cassandra 5 reads a TTL per element; older servers refuse TTL() on a collection.
      if (row) expect((row.get("ttl") as (number | null)[]).every((t) => t === null)).toBe(true);
    });

    it("destroy() drops the sets table with the others", async () => {
      const store = await createTestStore(url);
      const [keyspace, table] = tableOf(store).split(".") as [string, string];
      await store.backend.addToSet("k", "m", null);
      await store.backend.destroy?.();
      await store.close();
      const left = (
        await cql("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [keyspace])
      ).rows.map((row) => String(row.get("table_name")));
      expect(left.filter((name) => name.startsWith(table))).toEqual([]);
    });
  });

  describe("consistency levels", () => {
    // One node holds a keyspace with replication_factor 3: QUORUM needs two live replicas, so the
    // server must refuse it while ONE answers. This proves the option names reach the driver (the
    // driver's `types.consistencies` keys are camelCase; "QUORUM" once mapped to undefined there,
    // i.e. the driver's default LOCAL_ONE, and every level silently read and wrote at ONE).
    it("readConsistency reaches the server: QUORUM on RF 3 with one node is unavailable, ONE reads", async () => {
      const keyspace = `rs_rf3_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      await cql(
        `CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`,
      );
      try {
        const quorum = fromUrl(url, { keyspace, readConsistency: "QUORUM" });
        const one = fromUrl(url, { keyspace, readConsistency: "ONE" });
        try {
          expect((await one.read("t"))?.status ?? "PENDING").toBe("PENDING");
          const error = await quorum.read("t").catch((e: unknown) => e);
          // Unavailable: too few replicas alive right now, a retryable connection-class error.
          expect(error).toBeInstanceOf(BackendConnectionError);
          expect(quorum.isRetryable(error)).toBe(true);
          expect(String((error as Error).message)).toMatch(/QUORUM|[Uu]navailable/);
        } finally {
          await quorum.close();
          await one.close();
        }
      } finally {
        await cql(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      }
    });
  });

  describe("connections and errors", () => {
    it("an unreachable server is a retryable BackendConnectionError", async () => {
      const backend = fromUrl("cassandra://127.0.0.1:1/ks", {
        driverOptions: { socketOptions: { connectTimeout: 500 } },
      });
      const error = await backend.read("x").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendConnectionError);
      expect(backend.isRetryable(error)).toBe(true);
      await backend.close();
    });

    it("survives its connections cut again and again, and writes again after", async () => {
      // cassandra-driver 4.10 could run two control-connection refreshes at once after a cut; one
      // then read a connection the other had reset, and its rejection had no one to catch it,
      // which ends a Node process (packages/proof, finding 10). control-refresh.ts guards it.
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      const [direct] = await peers(1);
      const namespace = tableOf(direct as ResultStore).split(".")[1] as string;
      const server = new URL(url.replace(/^cassandra:/, "http:"));
      const proxy = new TcpProxy(server.hostname, Number(server.port || 9042));
      await proxy.start();
      try {
        const store = track(
          new ResultStore(
            fromUrl(`cassandra://${proxy.address}`, { keyspace: KEYSPACE, namespace }),
          ),
        );
        await store.markStarted("before-the-cuts");
        let stop = false;
        const writers = Array.from({ length: 8 }, async (_, w) => {
          for (let n = 0; !stop; n++) {
            await store.markStarted(`cut-${w}-${n}`).catch(() => sleep(5));
          }
        });
        for (let cut = 0; cut < 80; cut++) {
          await sleep(30 + Math.random() * 100);
          proxy.cut();
        }
        stop = true;
        await Promise.all(writers);
        const deadline = Date.now() + 30_000;
        let written = false;
        while (!written && Date.now() < deadline) {
          written = await store.markStarted("after-the-cuts").then(
            () => true,
            () => sleep(200).then(() => false),
          );
        }
        expect(written).toBe(true);
        expect(unhandled).toEqual([]);
      } finally {
        process.off("unhandledRejection", onUnhandled);
        await proxy.stop();
      }
    }, 90_000);

    it("never lets the driver re-send a lightweight transaction, even told every statement is idempotent", async () => {
      // driverOptions.queryOptions.isIdempotent once reached the backend's transactions: the
      // driver re-sent a CAS whose answer was lost, that copy failed its condition (the first had
      // applied), the backend read it as a lost race and counted again.
      const [direct] = (await peers(1)) as [ResultStore];
      const namespace = tableOf(direct).split(".")[1] as string;
      const key = `resent-${randomUUID()}`;
      let seen = 0;
      const server = new URL(url.replace(/^cassandra:/, "http:"));
      // Loses the answer to the second request naming the key: the read, then the transaction.
      const proxy = new TcpProxy(server.hostname, Number(server.port || 9042), {
        matches: (request) => request.includes(key) && ++seen === 2,
      });
      await proxy.start();
      // A caller's policy that retries a request error on the same host (another connection).
      class SameHost extends cassandra.policies.retry.RetryPolicy {
        override onRequestError() {
          return this.retryResult(undefined as unknown as cassandra.types.consistencies, true);
        }
      }
      try {
        const store = track(
          new ResultStore(
            fromUrl(`cassandra://${proxy.address}`, {
              keyspace: KEYSPACE,
              namespace,
              driverOptions: {
                queryOptions: { isIdempotent: true },
                pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 2 } },
                policies: { retry: new SameHost() },
              },
            }),
          ),
        );
        await store.backend.removeCounter("warm-up"); // connected, the table ready
        const error = await store.incr(key).catch((e: unknown) => e);
        expect(proxy.lost()).toBe(1);
        expect(error).toBeInstanceOf(IncrementOutcomeUnknownError);
        expect(store.backend.isRetryable?.(error)).toBe(false);
        const [row] = (
          await cql(`SELECT value FROM ${tableOf(direct)}_counters WHERE key = ?`, [key])
        ).rows;
        expect(Number(row?.get("value"))).toBe(1);
      } finally {
        await proxy.stop();
      }
    });

    it("a server-side refusal is not retryable", async () => {
      const store = track(await createTestStore(url));
      const error = await store.backend.read("x").then(async () => {
        await cql(`DROP TABLE ${tableOf(store)}`);
        return store.backend.read("y").catch((e: unknown) => e);
      });
      expect(error).toBeInstanceOf(BackendError);
      expect(store.backend.isRetryable?.(error)).toBe(false);
    });

    it("a backend closed before first use never connects, and refuses calls after", async () => {
      const backend = fromUrl(url, { keyspace: KEYSPACE, namespace: "never_used" });
      await backend.close();
      await backend.close();
      await expect(backend.read("x")).rejects.toBeInstanceOf(StoreClosedError);
    });

    it("a caller-built client is used and left open", async () => {
      const client = new cassandra.Client({
        contactPoints: [new URL(url.replace("cassandra:", "http:")).host],
        localDataCenter: "datacenter1",
      });
      const backend = new CassandraBackend({
        client,
        keyspace: KEYSPACE,
        namespace: `own_${randomUUID().replaceAll("-", "").slice(0, 8)}`,
      });
      const store = new ResultStore(backend);
      await store.markSuccess("c1", 1);
      await store.close();
      await store.close();
      expect((await client.execute("SELECT release_version FROM system.local")).rows).toHaveLength(
        1,
      );
      await client.shutdown();
    });

    it("getMany reads 100 ids per SELECT … IN, newest row each, unknown ids as PENDING", async () => {
      await rawClient(url); // the run's keyspace
      const client = new cassandra.Client({
        contactPoints: [new URL(url.replace("cassandra:", "http:")).host],
        localDataCenter: "datacenter1",
      });
      const backend = new CassandraBackend({
        client,
        keyspace: KEYSPACE,
        namespace: `many_${randomUUID().replaceAll("-", "").slice(0, 8)}`,
      });
      const store = new ResultStore(backend);
      const ids = Array.from({ length: 150 }, () => randomUUID());
      for (const id of ids.slice(0, 120)) await store.markStarted(id, "first");
      await Promise.all(ids.slice(0, 120).map((id) => store.markSuccess(id, id)));
      const sent: string[] = [];
      const execute = client.execute.bind(client);
      client.execute = ((query: string, ...rest: unknown[]) => {
        sent.push(query);
        return (execute as (...args: unknown[]) => unknown)(query, ...rest);
      }) as typeof client.execute;
      const metas = await store.getMany([...ids, ids[0] as string]);
      expect(sent).toHaveLength(2);
      expect(sent.every((q) => q.includes(" IN ? PER PARTITION LIMIT 1"))).toBe(true);
      expect(metas.slice(0, 120).map((m) => [m.status, m.result])).toEqual(
        ids.slice(0, 120).map((id) => ["SUCCESS", id]),
      );
      expect(metas.slice(120, 150).every((m) => m.status === "PENDING")).toBe(true);
      expect(metas[150]?.result).toBe(ids[0]);
      await store.close();
      await client.shutdown();
    });

    it("cleanup returns 0 and leaves nothing expired readable (native TTL)", async () => {
      const store = track(await createTestStore(url, { expires: 1 }));
      const taskId = randomUUID();
      await store.markSuccess(taskId, 1);
      await store.incr(`c-${taskId}`);
      await store.backend.addToSet(`s-${taskId}`, "m", new Date(Date.now() + 1000));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await store.backend.cleanup(new Date())).toBe(0);
      expect(
        (await cql(`SELECT * FROM ${tableOf(store)} WHERE task_id = ?`, [taskId])).rows,
      ).toHaveLength(0);
      expect(
        (await cql(`SELECT * FROM ${tableOf(store)}_counters WHERE key = ?`, [`c-${taskId}`])).rows,
      ).toHaveLength(0);
      expect(
        (await cql(`SELECT * FROM ${tableOf(store)}_sets WHERE key = ?`, [`s-${taskId}`])).rows,
      ).toHaveLength(0);
    });
  });
});
