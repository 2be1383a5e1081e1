// Elasticsearch-specific behaviour against the real server: the mapping we create, round trips per
// operation, Celery-shaped documents written around us, the native meta form, cleanup, ids that
// need URL encoding, and client ownership.
import { randomUUID } from "node:crypto";
import { Client } from "@elastic/elasticsearch";
import { loseOneAnswer, serverTarget } from "@resultstore/conformance";
import {
  BackendUnavailableError,
  DecodeError,
  IncrementOutcomeUnknownError,
  ResultStore,
  WriteOutcomeUnknownError,
} from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ElasticsearchBackend, type SearchClientLike, type TransportParams } from "../src/index.js";
import { freshIndex, nodeOf } from "./helpers.js";

const target = serverTarget("ELASTICSEARCH");

/**
 * The real driver, running `before` ahead of each request; `send` lets it send the request one
 * extra time (what a client re-send or a cluster's re-run after a failover does).
 */
function interceptingClient(
  node: string,
  before: (params: TransportParams, send: () => Promise<unknown>) => Promise<void>,
): SearchClientLike {
  const real = new Client({ node });
  return {
    transport: {
      request: async (params, options) => {
        await before(params, () => real.transport.request(params, options));
        return real.transport.request(params, options);
      },
    },
    close: () => real.close(),
  };
}

/** The real driver, counting the requests each store call makes (no behaviour changed). */
function countingClient(node: string): {
  client: SearchClientLike;
  paths: string[];
  queries: Record<string, unknown>[];
} {
  const real = new Client({ node });
  const paths: string[] = [];
  const queries: Record<string, unknown>[] = [];
  const client: SearchClientLike = {
    transport: {
      request: (params, options) => {
        paths.push(`${params.method} ${params.path.replace(/^\/[^/]+/, "")}`);
        queries.push({ ...(params.querystring as Record<string, unknown> | undefined) });
        return real.transport.request(params, options);
      },
    },
    close: () => real.close(),
  };
  return { client, paths, queries };
}

describe.skipIf(!target.url)(`elasticsearch backend ${target.reason}`, () => {
  const url = target.url ?? "";
  let raw: Client;
  const stores: ResultStore[] = [];
  const open = (
    options: ConstructorParameters<typeof ElasticsearchBackend>[0] = {},
    expires?: number,
  ) => {
    const store = new ResultStore(
      new ElasticsearchBackend({ url, namespace: freshIndex(), ...options }),
      expires === undefined ? {} : { expires },
    );
    stores.push(store);
    return store;
  };
  const indexOf = (store: ResultStore) => (store.backend as ElasticsearchBackend).index;

  beforeAll(() => {
    raw = new Client({ node: nodeOf(url) });
  });
  afterAll(async () => {
    for (const store of stores) {
      await store.backend.destroy?.().catch(() => undefined);
      await store.close();
    }
    await raw?.close();
  });

  describe("the index", () => {
    it("is created on the first write with an explicit, non-dynamic mapping", async () => {
      const store = open();
      await store.getMeta("nothing-yet");
      expect(await raw.indices.exists({ index: indexOf(store) })).toBe(false); // reads never create it
      await store.markQueued(randomUUID(), { metadata: { a: 1 } });
      const mapping = await raw.indices.getMapping({ index: indexOf(store) });
      const mappings = mapping[indexOf(store)]?.mappings;
      expect(mappings?.dynamic).toBe("false");
      expect(mappings?.properties?.metadata).toEqual({ type: "object", enabled: false });
      expect(mappings?.properties?.result).toEqual({ type: "object", enabled: false });
      expect(mappings?.properties?.expires_at).toEqual({ type: "date" });
    });

    it("arbitrary metadata keys never grow the mapping (no mapping explosion)", async () => {
      const store = open();
      await store.markQueued(randomUUID(), { metadata: { first: 1 } });
      const before = await raw.indices.getMapping({ index: indexOf(store) });
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          store.markQueued(randomUUID(), {
            metadata: { [`key_${i}_${randomUUID()}`]: { deep: i } },
          }),
        ),
      );
      expect(await raw.indices.getMapping({ index: indexOf(store) })).toEqual(before);
    });

    it("works on an index Celery created with dynamic mapping, adding only scalar fields", async () => {
      const index = freshIndex("celery-made");
      await raw.index({
        index,
        id: "celery-task-meta-x",
        document: { result: "{}", "@timestamp": "2024-05-01T12:00:00.000Z" },
      });
      const store = open({ index, namespace: undefined });
      const taskId = randomUUID();
      await store.markQueued(taskId, { metadata: { tenant: "acme", nested: { a: [1, 2] } } });
      await store.markSuccess(taskId, 42);
      expect(await store.getMeta(taskId)).toMatchObject({
        status: "SUCCESS",
        result: 42,
        metadata: { tenant: "acme", nested: { a: [1, 2] } },
      });
      const mapping = await raw.indices.getMapping({ index });
      const properties = mapping[index]?.mappings?.properties ?? {};
      expect(properties.metadata?.type).toBe("text"); // a string, never an object tree
      expect(properties.expires_at?.type).toBe("date");
    });
  });

  describe("round trips (requests per call)", () => {
    it("first write 1, later write 1 (the version this process saw), refused 1, read 1, incr 2", async () => {
      const { client, paths } = countingClient(nodeOf(url));
      const store = new ResultStore(
        new ElasticsearchBackend({ url, namespace: freshIndex(), client, closeClient: true }),
      );
      stores.push(store);
      await store.markQueued(randomUUID()); // creates the index
      const taskId = randomUUID();
      const count = async (call: () => Promise<unknown>) => {
        paths.length = 0;
        await call();
        return [...paths];
      };
      expect(await count(() => store.markStarted(taskId))).toEqual([
        `PUT /_create/celery-task-meta-${taskId}`,
      ]);
      expect(await count(() => store.markSuccess(taskId, 1))).toEqual([
        `PUT /_doc/celery-task-meta-${taskId}`, // if_seq_no of our own _create
      ]);
      // The cached SUCCESS suggests a refusal; a realtime GET confirms it.
      expect(await count(() => store.markStarted(taskId))).toEqual([
        `GET /_doc/celery-task-meta-${taskId}`,
      ]);
      expect(await count(() => store.getMeta(taskId))).toHaveLength(1);
      expect(await count(() => store.getMany([taskId, randomUUID()]))).toEqual(["POST /_mget"]);
      const key = randomUUID();
      expect(await count(() => store.incr(key))).toHaveLength(2); // GET (404) + _create
      expect(await count(() => store.incr(key))).toHaveLength(2); // GET + guarded index
    });

    it("every read asks for the same copy of its shard (preference), unless told not to", async () => {
      // With replicas, a write shows on the primary before the replicas: reads that different
      // copies answer could see a SUCCESS and then the state before it (the proof, 3 nodes).
      for (const [preference, expected] of [
        [undefined, "resultstore"],
        ["my-app", "my-app"],
        [null, undefined],
      ] as const) {
        const { client, paths, queries } = countingClient(nodeOf(url));
        const store = new ResultStore(
          new ElasticsearchBackend({
            url,
            namespace: freshIndex(),
            client,
            closeClient: true,
            preference,
          }),
        );
        stores.push(store);
        const taskId = randomUUID();
        await store.markSuccess(taskId, 1);
        paths.length = 0;
        queries.length = 0;
        await store.getMeta(taskId);
        await store.getMany([taskId, randomUUID()]);
        await store.markStarted(taskId); // refused: confirmed by a realtime GET
        expect((await store.getMeta(taskId)).status).toBe("SUCCESS");
        expect(paths.filter((p) => p.startsWith("GET") || p.endsWith("_mget"))).toHaveLength(4);
        for (const query of queries) expect(query.preference).toBe(expected);
      }
    });

    it("another process's write: create 409, GET, guarded PUT; a stale version re-reads and merges", async () => {
      const namespace = freshIndex();
      const one = countingClient(nodeOf(url));
      const two = countingClient(nodeOf(url));
      const producer = new ResultStore(
        new ElasticsearchBackend({ url, namespace, client: one.client, closeClient: true }),
      );
      const worker = new ResultStore(
        new ElasticsearchBackend({ url, namespace, client: two.client, closeClient: true }),
      );
      stores.push(producer, worker);
      const taskId = randomUUID();
      await producer.markQueued(taskId, { metadata: { tenant: "acme" } });
      await worker.markQueued(randomUUID()); // its one-time index check
      two.paths.length = 0;
      expect((await worker.markStarted(taskId)).applied).toBe(true);
      expect(two.paths).toHaveLength(3);
      // The producer's cached version is stale now: its replace fails (409), it re-reads, merges.
      one.paths.length = 0;
      expect((await producer.markSuccess(taskId, 1, { metadata: { done: true } })).applied).toBe(
        true,
      );
      expect(one.paths).toHaveLength(3);
      expect(await worker.getMeta(taskId)).toMatchObject({
        status: "SUCCESS",
        metadata: { tenant: "acme", done: true },
      });
    });

    it("a retried request that already landed is recognised as our own write", async () => {
      // Replays the first _create, as the client does when a response is lost: the replay gets 409.
      let replayed = false;
      const client = interceptingClient(nodeOf(url), async (params, send) => {
        if (!replayed && params.path.includes("/_create/celery-task-meta-")) {
          replayed = true;
          await send();
        }
      });
      const store = new ResultStore(
        new ElasticsearchBackend({ url, namespace: freshIndex(), client, closeClient: true }),
      );
      stores.push(store);
      const taskId = randomUUID();
      expect((await store.markSuccess(taskId, "once")).applied).toBe(true);
      expect(replayed).toBe(true);
      expect((await store.markSuccess(taskId, "twice")).applied).toBe(false);
    });

    it("a write the cluster re-ran after a failover, then superseded, is applied (not refused)", async () => {
      // When a primary fails mid-request, Elasticsearch re-runs the request on the new primary,
      // where it meets its own first execution and answers 409 though the write landed (seen
      // in the three-node proof). Here the first _create lands, another process writes SUCCESS
      // over it, and then the same request is sent again, as the cluster would.
      const namespace = freshIndex();
      const other = open({ namespace });
      await other.markQueued("warm-up");
      let reran = false;
      const client = interceptingClient(nodeOf(url), async (params, send) => {
        if (!reran && params.path.endsWith("/_create/celery-task-meta-t")) {
          reran = true;
          await send();
          await other.markSuccess("t", 1);
        }
      });
      const store = open({ namespace, client, closeClient: true });
      const started = await store.markStarted("t", null, { metadata: { started: true } });
      expect(reran).toBe(true);
      expect(started.applied).toBe(true); // its metadata is stored: it did land
      expect(await other.getMeta("t")).toMatchObject({
        status: "SUCCESS",
        metadata: { started: true },
      });
    });

    it("an increment the cluster re-ran after a failover counts once", async () => {
      // The same re-run as above, on a counter: the create and then the guarded replace each land,
      // and the identical request sent again meets 409 from its own first execution.
      let reran = 0;
      const client = interceptingClient(nodeOf(url), async (params, send) => {
        if (reran < 2 && params.method === "PUT" && /\/(_create|_doc)\/hits$/.test(params.path)) {
          reran++;
          await send();
        }
      });
      const store = open({ client, closeClient: true });
      expect(await store.incr("hits")).toBe(1);
      expect(await store.incr("hits", 2)).toBe(3);
      expect(reran).toBe(2);
      const stored = await raw.get<{ count: number }>({ index: indexOf(store), id: "hits" });
      expect(stored._source?.count).toBe(3);
    });

    it("an increment whose _create the cluster re-ran after more increments than a counter records: its own, counted once", async () => {
      // The first _create lands, 16 increments from another store follow, then the same request
      // meets 409. The counter no longer lists its id among the recent ones, but records it as
      // the write that created it: it counted, once.
      const namespace = freshIndex();
      const other = open({ namespace });
      let reran = false;
      const client = interceptingClient(nodeOf(url), async (params, send) => {
        if (!reran && params.path.endsWith("/_create/hits")) {
          reran = true;
          await send();
          for (let i = 0; i < 16; i++) await other.incr("hits");
        }
      });
      const store = open({ namespace, client, closeClient: true });
      expect(await store.incr("hits")).toBe(1);
      expect(reran).toBe(true);
      expect(await other.incr("hits")).toBe(18); // its one landing copy, the 16, and this one
    });

    it("a guarded increment re-run on a new primary after more increments than a counter records: unknown, counted once", async () => {
      // The second increment's guarded write lands; the shard gets a new primary term (closing
      // and opening the index does that, as a failover does); 16 increments follow; the same
      // request then meets 409. Its id is gone and a new primary took over since its base:
      // whether it counted cannot be told.
      const namespace = freshIndex();
      const other = open({ namespace });
      let reran = false;
      const client = interceptingClient(nodeOf(url), async (params, send) => {
        if (!reran && params.method === "PUT" && params.path.endsWith("/_doc/hits")) {
          reran = true;
          await send();
          await raw.indices.close({ index: namespace });
          await raw.indices.open({ index: namespace, wait_for_active_shards: 1 });
          for (let i = 0; i < 16; i++) await other.incr("hits");
        }
      });
      const store = open({ namespace, client, closeClient: true });
      expect(await store.incr("hits")).toBe(1);
      const error = await store.incr("hits").catch((caught: unknown) => caught);
      expect(reran).toBe(true);
      expect(error).toBeInstanceOf(IncrementOutcomeUnknownError);
      expect((error as IncrementOutcomeUnknownError).counter).toBe("hits");
      expect(await other.incr("hits")).toBe(19); // 1, its one landing copy, the 16, and this one
    });

    it("a conflict after more increments by others than a counter records is contention: counted once", async () => {
      // The store reads the counter, 20 increments from another store land before its guarded
      // write, which meets 409: no copy of it ran twice (same primary, sent once), so it reads
      // again and counts (before, the version gap since its first read made this "unknown").
      const namespace = freshIndex();
      const other = open({ namespace });
      await other.incr("hits");
      let raced = false;
      const client = interceptingClient(nodeOf(url), async (params) => {
        if (!raced && params.method === "PUT" && params.path.endsWith("/_doc/hits")) {
          raced = true;
          for (let i = 0; i < 20; i++) await other.incr("hits");
        }
      });
      const store = open({ namespace, client, closeClient: true });
      expect(await store.incr("hits")).toBe(22);
      expect(raced).toBe(true);
    });
  });

  describe("documents written around us", () => {
    const put = async (store: ResultStore, id: string, document: Record<string, unknown>) => {
      await store.markQueued(`create-index-${randomUUID()}`);
      await raw.index({ index: indexOf(store), id, document, refresh: false });
    };

    it("reads Celery's text-form document (no fields of ours): no metadata, no expiry", async () => {
      const store = open();
      const taskId = randomUUID();
      await put(store, `celery-task-meta-${taskId}`, {
        result: `{"status": "SUCCESS", "result": [1, NaN, 18446744073709551617], "traceback": null, "children": [], "date_done": "2024-05-01T12:00:00.123456+00:00", "task_id": "${taskId}"}`,
        "@timestamp": "2024-05-01T12:00:00.123Z",
      });
      const record = await store.backend.read(taskId);
      expect(record?.expiresAt).toBeNull();
      expect(record?.metadata).toEqual({});
      const result = record?.result as unknown[];
      expect(result[0]).toBe(1);
      expect(Number.isNaN(result[1])).toBe(true);
      expect(result[2]).toBe(18446744073709551617n); // exact: the meta is decoded by core's codec
      expect(record?.dateDone?.toISOString()).toBe("2024-05-01T12:00:00.123Z");
    });

    it("reads Celery's native-object form (elasticsearch_save_meta_as_text=False)", async () => {
      const store = open();
      const [a, b] = [randomUUID(), randomUUID()];
      await put(store, `celery-task-meta-${a}`, {
        result: {
          status: "FAILURE",
          result: '{"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"}',
          traceback: '"Traceback: x"',
          children: [],
          date_done: "2024-05-01T12:00:00+00:00",
          task_id: a,
        },
        "@timestamp": "2024-05-01T12:00Z",
      });
      await put(store, `celery-task-meta-${b}`, {
        result: {
          status: "SUCCESS",
          result: 0,
          traceback: null,
          children: [],
          date_done: "2024-05-01T12:00:00+00:00",
          task_id: b,
        },
      });
      expect(await store.getMeta(a)).toMatchObject({
        status: "FAILURE",
        result: { exc_type: "ValueError" },
        traceback: "Traceback: x",
      });
      expect(await store.getMeta(b)).toMatchObject({ status: "SUCCESS", result: 0 });
    });

    it("refuses to count on a key that holds something other than a counter", async () => {
      const store = open();
      const key = `foreign-${randomUUID()}`;
      await put(store, key, { result: '{"status": "SUCCESS"}' });
      await expect(store.incr(key)).rejects.toBeInstanceOf(DecodeError);
    });
  });

  describe("the native meta form (saveMetaAsText: false)", () => {
    it("round-trips falsy and truthy results, tracebacks and metadata", async () => {
      const store = open({ saveMetaAsText: false });
      for (const value of [0, "", null, [], {}, false, 42, "text", { a: [1] }, 2n ** 70n]) {
        const taskId = randomUUID();
        await store.markSuccess(taskId, value, { metadata: { v: "x" } });
        expect((await store.getMeta(taskId)).result).toEqual(value);
      }
      const failed = randomUUID();
      await store.markFailure(failed, new TypeError("bad"), { traceback: "Traceback: here" });
      expect((await store.getMeta(failed)).traceback).toBe("Traceback: here");
      const doc = await raw.get<{ result: Record<string, unknown> }>({
        index: indexOf(store),
        id: `celery-task-meta-${failed}`,
      });
      expect(doc._source?.result.traceback).toBe('"Traceback: here"'); // Celery's JSON text of the string
      expect(typeof doc._source?.result.result).toBe("string");
    });
  });

  describe("a write whose answer is lost", () => {
    // The proxy passes the first write of task "t" to the server, runs `meanwhile` (another
    // store's writes land), then cuts the connection: the client re-sends the write, which meets
    // a 409 by then. `check` gets a store behind the proxy and one that talks to the server.
    const afterLostAnswer = async (
      meanwhile: (direct: ResultStore) => Promise<unknown>,
      check: (proxied: ResultStore, direct: ResultStore) => Promise<void>,
      first?: (proxied: ResultStore) => Promise<unknown>,
    ) => {
      const namespace = freshIndex();
      const direct = open({ namespace });
      await direct.markQueued("warm-up"); // the index exists: the next write is one _create
      const { hostname, port } = new URL(nodeOf(url));
      let writes = 0;
      const proxy = await loseOneAnswer(
        { host: hostname, port: Number(port) },
        {
          // The first write of "t" after `first`'s requests.
          matches: (request) =>
            /^PUT [^ ]*\/celery-task-meta-t[ ?]/.test(request) && ++writes === (first ? 2 : 1),
          meanwhile: async () => {
            await meanwhile(direct);
          },
        },
      );
      try {
        const proxied = open({ url: `elasticsearch://${proxy.address}`, namespace });
        await first?.(proxied);
        await check(proxied, direct);
        expect(proxy.lost()).toBe(1);
      } finally {
        await proxy.stop();
      }
    };

    // More writes by another store than a document records ids of (16).
    const seventeenWrites = async (direct: ResultStore) => {
      for (let i = 0; i < 16; i++) await direct.storeResult("t", { step: i }, "PROGRESS");
      await direct.markSuccess("t", 1);
    };

    it("re-sent by the client after another write landed on it: found among the recent writes", () =>
      afterLostAnswer(
        (direct) => direct.markSuccess("t", 1),
        async (proxied, direct) => {
          const started = proxied.markStarted("t", null, { metadata: { started: true } });
          await expect(started).resolves.toMatchObject({ applied: true });
          expect(await direct.getMeta("t")).toMatchObject({
            status: "SUCCESS",
            metadata: { started: true },
          });
        },
      ));

    it("a _create re-sent after more writes than a document records: its creator, applied", () =>
      afterLostAnswer(seventeenWrites, async (proxied, direct) => {
        const started = proxied.markStarted("t", null, { metadata: { started: true } });
        await expect(started).resolves.toMatchObject({ applied: true });
        expect(await direct.getMeta("t")).toMatchObject({
          status: "SUCCESS",
          metadata: { started: true },
        });
      }));

    it("a cached write re-sent after more writes than a document records: unknown, not refused", () =>
      afterLostAnswer(
        seventeenWrites,
        async (proxied, direct) => {
          await expect(proxied.markStarted("t")).rejects.toBeInstanceOf(WriteOutcomeUnknownError);
          expect((await direct.getMeta("t")).status).toBe("SUCCESS");
        },
        // The proxied store queues the task first (its version cached); the answer lost is
        // that of its next write, a guarded replace, which the client then re-sends.
        (proxied) => proxied.markQueued("t"),
      ));

    it("re-sent by the client with nothing in between is recognised as applied", () =>
      afterLostAnswer(
        async () => undefined,
        async (proxied) => {
          await expect(proxied.markStarted("t")).resolves.toMatchObject({ applied: true });
        },
      ));
  });

  describe("cleanup", () => {
    it("removes expired tasks, groups, counters and sets, counts them, and leaves live and Celery's records", async () => {
      const expiring = open({}, 1);
      const [task, group, counter, celeryTask] = [
        randomUUID(),
        randomUUID(),
        randomUUID(),
        randomUUID(),
      ];
      await expiring.markSuccess(task, 1);
      await expiring.saveGroup(group, [task]);
      await expiring.incr(counter);
      await expiring.backend.addToSet(counter, "member", new Date(Date.now() + 1000));
      await raw.index({
        index: indexOf(expiring),
        id: `celery-task-meta-${celeryTask}`,
        document: { result: `{"status": "SUCCESS", "result": 1, "task_id": "${celeryTask}"}` },
      });
      const live = new ResultStore(new ElasticsearchBackend({ url, index: indexOf(expiring) }));
      stores.push(live);
      const kept = randomUUID();
      await live.markSuccess(kept, "stays");
      await new Promise((resolve) => setTimeout(resolve, 2200));
      expect(await expiring.cleanup()).toBe(4);
      expect(await expiring.backend.read(task)).toBeNull();
      const set = await raw.get(
        { index: indexOf(expiring), id: `set/${counter}` },
        { ignore: [404] },
      );
      expect(set.found).toBe(false);
      expect(await expiring.backend.readGroup(group)).toBeNull();
      expect(await expiring.incr(counter)).toBe(1);
      expect((await live.getMeta(kept)).result).toBe("stays");
      expect((await live.getMeta(celeryTask)).status).toBe("SUCCESS"); // no expiry: never removed
      expect(await expiring.cleanup()).toBe(0);
    });

    it("goes on to later pages when a whole page of deletes hit conflicts", async () => {
      // Page size 2; the first page's two documents are rewritten (still expired) between the
      // search and the delete, so both deletes answer 409. The other two must still go.
      let rewritten: string[] = [];
      const client = interceptingClient(nodeOf(url), async (params) => {
        const bulk = (params as { bulkBody?: { delete?: { _id: string } }[] }).bulkBody;
        if (params.path.endsWith("/_bulk") && bulk && rewritten.length === 0) {
          rewritten = bulk.map((item) => item.delete?._id ?? "");
          const index = params.path.split("/")[1] ?? "";
          for (const id of rewritten) {
            const doc = await raw.get<Record<string, unknown>>({ index, id });
            await raw.index({ index, id, document: doc._source });
          }
        }
      });
      const expiring = open({ client, closeClient: true, cleanupBatchSize: 2 }, 1);
      const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      for (const id of ids) await expiring.markSuccess(id, id);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await expiring.cleanup()).toBe(2);
      expect(rewritten).toHaveLength(2);
      for (const id of ids) {
        const kept = rewritten.includes(`celery-task-meta-${id}`);
        expect((await expiring.backend.read(id)) !== null).toBe(kept);
      }
      expect(await expiring.cleanup()).toBe(2); // the next run takes the rewritten ones
    });

    it("on an index that does not exist yet, removes nothing", async () => {
      expect(await open().cleanup()).toBe(0);
    });
  });

  describe("ids and prefixes", () => {
    it("ids that need URL encoding address the exact Celery _id", async () => {
      const store = open();
      for (const taskId of [
        `sp ace-${randomUUID()}`,
        `p%20ct+plus-${randomUUID()}`,
        `héllo-✓-😀-${randomUUID()}`,
        `q"uote'-${randomUUID()}`,
      ]) {
        await store.markSuccess(taskId, taskId);
        expect((await store.getMeta(taskId)).result).toBe(taskId);
        const doc = await raw.get({ index: indexOf(store), id: `celery-task-meta-${taskId}` });
        expect(doc.found).toBe(true);
      }
    });

    it("keyPrefix prefixes every id as Celery's global_keyprefix does", async () => {
      const store = open({ keyPrefix: "tenant1" });
      const taskId = randomUUID();
      await store.markSuccess(taskId, 1);
      const doc = await raw.get({
        index: indexOf(store),
        id: `tenant1_celery-task-meta-${taskId}`,
      });
      expect(doc.found).toBe(true);
    });
  });

  describe("client ownership", () => {
    it("a caller's client stays open after close() unless closeClient is set", async () => {
      const client = new Client({ node: nodeOf(url) });
      const store = new ResultStore(
        new ElasticsearchBackend({ url, namespace: freshIndex(), client }),
      );
      await store.markSuccess(randomUUID(), 1);
      await store.backend.destroy?.();
      await store.close();
      await store.close();
      expect(await client.indices.exists({ index: "no-such-index" })).toBe(false); // still usable
      await client.close();
    });

    it("an unreachable server gives a typed, retryable connection error without credentials", async () => {
      const backend = new ElasticsearchBackend({
        url: "elasticsearch://user:hunter2@127.0.0.1:1/x",
        maxRetries: 0,
        requestTimeout: 2000,
      });
      const error = await backend.read("t").catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "CONNECTION" });
      expect(backend.isRetryable(error)).toBe(true);
      expect(String((error as Error).message)).not.toContain("hunter2");
      await backend.close();
    });

    it("a refused connection sent nothing: an increment fails as unavailable, not as unknown", async () => {
      const store = new ResultStore(
        new ElasticsearchBackend({ url: "elasticsearch://127.0.0.1:1/x", maxRetries: 0 }),
      );
      stores.push(store);
      for (const call of [() => store.incr("k"), () => store.markStarted("t")]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BackendUnavailableError);
      }
    });
  });
});
