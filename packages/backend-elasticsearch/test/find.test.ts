// `find` and `countByState` against the real engines (Elasticsearch and OpenSearch): the mapping
// they need (created, added to an older index, left to the operator), records Celery's own
// backend wrote, and queries that never reach the server as a bad request.
import { randomUUID } from "node:crypto";
import {
  ConfigurationError,
  InvalidQueryError,
  ResultStore,
  type TaskFilter,
} from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIND_FIELDS, INDEX_MAPPINGS } from "../src/client.js";
import {
  ElasticsearchBackend,
  type ElasticsearchBackendOptions,
  type SearchClientLike,
} from "../src/index.js";
import { type Engine, engineTargets, freshIndex, nodeOf, rawEngine } from "./helpers.js";

/** The mapping before `find` existed: ours without its fields. */
const OLD_MAPPINGS = {
  ...INDEX_MAPPINGS,
  properties: Object.fromEntries(
    Object.entries(INDEX_MAPPINGS.properties).filter(([field]) => !(field in FIND_FIELDS)),
  ),
};

/** Celery's own text-form document for a task (what its backend writes with result_extended). */
function celeryDocument(taskId: string, status: string, name: string, at: string) {
  const done = ["SUCCESS", "FAILURE", "REVOKED"].includes(status) ? `"${at}"` : "null";
  return {
    result: `{"status": "${status}", "result": null, "traceback": null, "children": [], "date_done": ${done}, "name": "${name}", "args": [], "kwargs": {}, "worker": "celery@w", "retries": 0, "queue": "celery", "task_id": "${taskId}"}`,
    "@timestamp": at,
  };
}

for (const { engine, target, client: kind } of engineTargets()) {
  describe.skipIf(!target.url)(`find on ${engine} ${target.reason}`, () => {
    const url = target.url ?? "";
    let raw: Engine;
    const stores: ResultStore[] = [];
    /** A caller-built client of the engine's kind, recording each request's method and path. */
    const recording = async () => {
      const { Client } =
        kind === "opensearch"
          ? await import("@opensearch-project/opensearch")
          : await import("@elastic/elasticsearch");
      const real = new Client({ node: nodeOf(url) }) as unknown as SearchClientLike;
      const requests: string[] = [];
      const client: SearchClientLike = {
        transport: {
          request: (params, options) => {
            requests.push(`${params.method} ${params.path.replace(/^\/[^/_]+/, "")}`);
            return real.transport.request(params, options);
          },
        },
        close: () => real.close(),
      };
      return { client, requests };
    };
    const open = async (options: ElasticsearchBackendOptions = {}) => {
      const { client, requests } = await recording();
      const backend = new ElasticsearchBackend({
        url,
        namespace: freshIndex("find"),
        client,
        closeClient: true,
        ...options,
      });
      const store = new ResultStore(backend);
      stores.push(store);
      return { store, backend, requests };
    };
    const rest = async (method: string, path: string, body?: Record<string, unknown>) =>
      (await raw.request({ method, path, ...(body && { body }) }, { operation: "raw" })).body as
        | Record<string, unknown>
        | undefined;
    const properties = async (index: string) => {
      const mapping = (await rest("GET", `/${index}/_mapping`)) as Record<
        string,
        { mappings: { properties: Record<string, unknown> } }
      >;
      return mapping[index]?.mappings.properties ?? {};
    };
    const ids = async (store: ResultStore, filter: TaskFilter, limit = 100) => {
      const found: string[] = [];
      let cursor: string | null | undefined;
      do {
        const page = await store.find(filter, { limit, ...(cursor && { cursor }) });
        found.push(...page.tasks.map((task) => task.taskId));
        cursor = page.cursor;
      } while (cursor);
      return found;
    };

    beforeAll(async () => {
      raw = await rawEngine(url, kind);
    });
    afterAll(async () => {
      for (const store of stores) {
        await store.backend.destroy?.().catch(() => undefined);
        await store.close();
      }
      await raw?.close();
    });

    describe("the mapping", () => {
      it("the index we create maps find's fields as keywords", async () => {
        const { store, backend } = await open();
        expect(await store.find({ state: "SUCCESS" })).toEqual({ tasks: [], cursor: null }); // no index yet
        await store.markSuccess(randomUUID(), 1, {
          request: { name: "tasks.a" },
          metadata: { n: 1 },
        });
        const mapped = await properties(backend.index);
        expect(mapped).toMatchObject({
          task_id: { type: "keyword" },
          name: { type: "keyword", ignore_above: 8191 },
          metadata_terms: { type: "keyword" },
          status: { type: "keyword" },
          "@timestamp": { type: "date" },
        });
      });

      it("an index an older version created gets find's fields; its records are still found", async () => {
        const index = freshIndex("old");
        await rest("PUT", `/${index}`, { mappings: OLD_MAPPINGS });
        // A record as the version before find wrote it: no task_id, name or metadata_terms.
        const old = randomUUID();
        await rest("PUT", `/${index}/_doc/celery-task-meta-${old}`, {
          ...celeryDocument(old, "FAILURE", "tasks.old", "2024-05-01T12:00:00.000Z"),
          status: "FAILURE",
          date_done: "2024-05-01T12:00:00.000Z",
          expires_at: null,
          metadata: '{"tenant": "acme"}',
        });
        const { store } = await open({ index, namespace: undefined });
        expect(await ids(store, { state: "FAILURE", name: "tasks.old" })).toEqual([old]);
        expect(Object.keys(await properties(index))).toEqual(
          expect.arrayContaining(Object.keys(FIND_FIELDS)),
        );
        // By metadata, only once rewritten: its metadata was never indexed.
        expect(await ids(store, { metadata: { tenant: "acme" } })).toEqual([]);
        await store.markFailure(old, new Error("again"));
        expect(await ids(store, { metadata: { tenant: "acme" } })).toEqual([old]);
      });

      it("createIndex: false never creates or changes an index; one without find's fields is a clear error", async () => {
        const index = freshIndex("operator");
        await rest("PUT", `/${index}`, { mappings: OLD_MAPPINGS });
        const { store, requests } = await open({ index, namespace: undefined, createIndex: false });
        await store.markSuccess(randomUUID(), 1);
        await expect(store.find({})).rejects.toBeInstanceOf(ConfigurationError);
        await expect(store.countByState()).rejects.toThrow(/metadata_terms.*README/);
        expect(requests.filter((r) => r.startsWith("PUT /_mapping") || r === "PUT ")).toEqual([]);
        expect(Object.keys(await properties(index))).not.toContain("task_id");
        // The operator adds the mapping the README gives: found from then on.
        await rest("PUT", `/${index}/_mapping`, { properties: FIND_FIELDS });
        const taskId = randomUUID();
        await store.markSuccess(taskId, 1, { metadata: { k: "v" } });
        expect(await ids(store, { metadata: { k: "v" } })).toEqual([taskId]);
      });

      it("an index whose dynamic mapping made status a text field is a clear error, not wrong answers", async () => {
        const index = freshIndex("dynamic");
        await rest("PUT", `/${index}/_doc/celery-task-meta-x`, {
          status: "SUCCESS",
          "@timestamp": "2024-05-01T12:00:00.000Z",
        });
        const { store } = await open({ index, namespace: undefined });
        await expect(store.find({ state: "SUCCESS" })).rejects.toThrow(/maps status as text/);
      });
    });

    describe("records Celery's own backend wrote", () => {
      it("are found by state, name and time, in order with ours, also sharing a millisecond", async () => {
        const { store, backend } = await open();
        const name = `tasks.${randomUUID()}`;
        const ours = randomUUID();
        await store.markSuccess(ours, 1, { request: { name } });
        const at = (await store.getMeta(ours)).updatedAt?.toISOString() as string;
        // Celery's records in the same millisecond as ours, and one a second earlier, unready
        // (not later: find leaves out what was written after the first page was asked for).
        const celery = ["0", "5", "z"].map((c) => `${c}${randomUUID()}`);
        const earlier = `earlier-${randomUUID()}`;
        const earlierAt = new Date(Date.parse(at) - 1000).toISOString();
        for (const [taskId, status, time] of [
          ...celery.map((taskId) => [taskId, "SUCCESS", at]),
          [earlier, "STARTED", earlierAt],
        ] as const) {
          await rest(
            "PUT",
            `/${backend.index}/_doc/celery-task-meta-${taskId}`,
            celeryDocument(taskId, status, name, time),
          );
        }
        // One millisecond: newest first is task ids descending (ASCII here: `sort` is code point order).
        const newestFirst = [ours, ...celery].sort().reverse();
        for (const limit of [1, 2, 100])
          expect(await ids(store, { name, state: "SUCCESS" }, limit)).toEqual(newestFirst);
        expect(await ids(store, { name, state: "STARTED" })).toEqual([earlier]);
        expect(await ids(store, { name, before: new Date(at) })).toEqual([earlier]);
        expect(await ids(store, { name, after: new Date(at) })).toEqual(newestFirst);
        const [found] = (await store.find({ name, state: "STARTED" })).tasks;
        expect(found?.updatedAt?.toISOString()).toBe(earlierAt); // Celery's @timestamp
        expect(await store.countByState({ name })).toMatchObject({ SUCCESS: 4, STARTED: 1 });
        // Celery's records hold no metadata: a metadata filter never reads them.
        expect(await ids(store, { name, metadata: { any: 1 } })).toEqual([]);
      });
    });

    describe("queries", () => {
      it("bad filters never send a request; odd valid ones are answered, not refused by the server", async () => {
        const { store, requests } = await open();
        const taskId = randomUUID();
        const long = "x".repeat(40_000); // beyond a keyword's 32 KB: stored and asked as a digest
        const metadata = { "a=b?": "q\"u'o\\te", long, "ü🎉": -0, big: 2 ** 60, f: 1.5 };
        await store.markSuccess(taskId, 1, { request: { name: 'we"ird\\name' }, metadata });
        requests.length = 0;
        const bad = [
          () => store.find({ state: "success" }),
          () => store.find({ metadata: { a: [1] as never } }),
          () => store.find({ metadata: { $where: "1" } }),
          () => store.find({}, { limit: 5000 }),
          () => store.countByState({ after: new Date(Number.NaN) }),
        ];
        for (const call of bad) await expect(call()).rejects.toBeInstanceOf(InvalidQueryError);
        expect(requests).toEqual([]);
        const { big: _, ...scalars } = metadata;
        expect(await ids(store, { name: 'we"ird\\name', metadata: scalars })).toEqual([taskId]);
        expect(await ids(store, { metadata: { "ü🎉": 0, f: 1.5 } })).toEqual([taskId]);
        // Integers beyond 2^53 read back as BigInt (core's exact codec): never equal to a number.
        expect(await ids(store, { metadata: { big: 2 ** 60 } })).toEqual([]);
        expect(await ids(store, { metadata: { long: `${long}y` } })).toEqual([]);
        expect(await ids(store, { metadata: { f: "1.5" } })).toEqual([]);
      });

      it("refresh before find (one request) unless refreshBeforeFind: false", async () => {
        for (const refreshBeforeFind of [true, false]) {
          const { store, requests } = await open({ refreshBeforeFind });
          await store.markSuccess(randomUUID(), 1);
          await store.find({}); // the first also reads the mapping once
          requests.length = 0;
          await store.find({ state: "SUCCESS" });
          await store.countByState();
          const refresh = refreshBeforeFind ? ["POST /_refresh"] : [];
          expect(requests).toEqual([...refresh, "POST /_search", ...refresh, "POST /_search"]);
        }
      });
    });
  });
}
