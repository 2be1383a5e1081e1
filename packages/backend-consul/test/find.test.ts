/**
 * find and countByState on Consul: a scan of the prefix's task keys (names listed with a separator,
 * values read 64 per read-only transaction, a bounded number in flight), records Celery's own
 * backend wrote found by state, name and date_done, and bad queries stopped before any request.
 */
import { randomUUID } from "node:crypto";
import { serverTarget } from "@resultstore/conformance";
import {
  DecodeError,
  InvalidCursorError,
  InvalidQueryError,
  ResultStore,
  type TaskFilter,
} from "@resultstore/core";
import { mapLimit } from "@resultstore/core/backend";
import { describe, expect, it } from "vitest";
import { type FetchLike, fromUrl } from "../src/index.js";
import { consulOf, rawPut, storesPerTest } from "./helpers.js";

const target = serverTarget("CONSUL");

/** What a scan sent: each request's method, path and query, and the most txns at once. */
function recording() {
  const log = { requests: [] as string[], txnsInFlight: 0, mostTxnsInFlight: 0 };
  const fetchLike: FetchLike = async (url, init) => {
    const { pathname, search } = new URL(url);
    log.requests.push(`${init.method} ${decodeURIComponent(pathname)}${search}`);
    const txn = pathname === "/v1/txn";
    if (txn) log.mostTxnsInFlight = Math.max(log.mostTxnsInFlight, ++log.txnsInFlight);
    try {
      return await fetch(url, init);
    } finally {
      if (txn) log.txnsInFlight--;
    }
  };
  return { log, fetch: fetchLike };
}

describe.skipIf(!target.url)(`consul find ${target.reason}`, () => {
  const url = target.url as string;
  const { store, opened } = storesPerTest(url);
  const ids = (page: { tasks: { taskId: string }[] }) => page.tasks.map((task) => task.taskId);

  it("lists task key names only, then reads their values 64 per transaction, 2 in flight at most", async () => {
    const { log, fetch } = recording();
    const s = store({}, { fetch });
    const prefix = consulOf(s).keyPrefix;
    const written = Array.from({ length: 320 }, () => randomUUID());
    // Few at a time: through a plain fetch each request may open a connection, and Consul
    // answers 429 beyond 200 per client (limits.http_max_conns_per_client).
    await mapLimit(written, 16, (id) => s.markSuccess(id, id));
    // Beside them: a group, a counter, a set, a chord's claim, and a namespace nested in this one
    // whose name starts like a task key.
    const gid = randomUUID();
    await s.saveGroup(gid, written.slice(0, 2));
    await s.incr(`chord-unlock-${gid}`, 1);
    await s.backend.addToSet(`chord-members-${gid}`, "m", null);
    const claim = `{"status": "SUCCESS", "result": 1, "task_id": "chord-claim-${gid}"}`;
    await rawPut(url, `${prefix}celery-task-meta-chord-claim-${gid}`, claim);
    const nested = new ResultStore(
      fromUrl(url, { prefix: prefix.slice(0, -1), namespace: "celery-task-meta-n", warn() {} }),
    );
    opened.push(nested);
    await nested.markSuccess(randomUUID(), 1);

    for (const scan of [
      async () => expect(ids(await s.find({}, { limit: 1000 })).sort()).toEqual(written.sort()),
      async () => expect(await s.countByState()).toMatchObject({ SUCCESS: 320, PENDING: 0 }),
    ]) {
      log.requests.length = 0;
      log.mostTxnsInFlight = 0;
      await scan();
      const listing = `GET /v1/kv/${prefix}celery-task-meta-?keys&separator=%2F&consistent`;
      // 320 task keys: 5 transactions; the claim (and the nested store's key) is never read.
      expect(log.requests).toEqual([listing, ...Array(5).fill("PUT /v1/txn?consistent")]);
      expect(log.mostTxnsInFlight).toBeLessThanOrEqual(2);
    }
  });

  it("finds records Celery's own backend wrote by state, name and date_done; unready ones not by time", async () => {
    const s = store();
    const prefix = consulOf(s).keyPrefix;
    // Celery's KV value with result_extended, as its Consul backend writes it (no metadata,
    // expires_at nor updated_at): a SUCCESS with its date_done, a STARTED without one.
    const celeryValue = (id: string, status: string, dateDone: string | null) =>
      `{"status": "${status}", "result": null, "traceback": null, "children": [], ` +
      `"date_done": ${dateDone && `"${dateDone}"`}, "name": "tasks.celery", "args": [], ` +
      `"kwargs": {}, "worker": "celery@h", "retries": 0, "queue": "celery", "task_id": "${id}"}`;
    const [done, started, ours] = [randomUUID(), randomUUID(), randomUUID()];
    await rawPut(
      url,
      `${prefix}celery-task-meta-${done}`,
      celeryValue(done, "SUCCESS", "2024-05-01T12:00:00.123456+00:00"),
    );
    await rawPut(
      url,
      `${prefix}celery-task-meta-${started}`,
      celeryValue(started, "STARTED", null),
    );
    await s.markQueued(ours, { name: "tasks.celery" });

    const found = async (filter: TaskFilter, order: "newest" | "oldest" = "newest") =>
      ids(await s.find(filter, { order }));
    // Our record's time is its last write (now); Celery's SUCCESS its date_done; STARTED has none.
    expect(await found({ name: "tasks.celery" })).toEqual([ours, done, started]);
    expect(await found({ name: "tasks.celery" }, "oldest")).toEqual([started, done, ours]);
    expect(await found({ state: ["SUCCESS", "STARTED"] })).toEqual([done, started]);
    const may2024 = {
      after: new Date("2024-05-01T00:00:00Z"),
      before: new Date("2024-05-02T00:00:00Z"),
    };
    expect(await found(may2024)).toEqual([done]);
    expect(await found({ after: new Date("2024-01-01T00:00:00Z") })).toEqual([ours, done]);
    expect(await s.countByState({ name: "tasks.celery" })).toMatchObject({
      SUCCESS: 1,
      STARTED: 1,
      QUEUED: 1,
    });
    expect(await s.countByState(may2024)).toMatchObject({ SUCCESS: 1, STARTED: 0 });
  });

  it("stops a bad query before any request; filter values never reach the server", async () => {
    const { log, fetch } = recording();
    const s = store({}, { fetch });
    const bad: [TaskFilter, object][] = [
      [{ state: "NOT-A-STATE" as never }, {}],
      [{ metadata: { nested: { a: 1 } as never } }, {}],
      [{ name: "" }, {}],
      [{}, { limit: 5000 }],
      [{ after: new Date(Number.NaN) }, {}],
    ];
    for (const [filter, options] of bad)
      await expect(s.find(filter, options)).rejects.toBeInstanceOf(InvalidQueryError);
    await expect(s.find({}, { cursor: "forged" })).rejects.toBeInstanceOf(InvalidCursorError);
    await expect(s.countByState({ metadata: [] as never })).rejects.toBeInstanceOf(
      InvalidQueryError,
    );
    expect(log.requests).toEqual([]);

    // Values a URL would need escaping for are matched in the client; the server sees none.
    const odd = { "a/b?c#d": "x&y=z %2F/..", ünï: "☃ \u0000" };
    const id = randomUUID();
    await s.markQueued(id, { name: "tasks/../odd?&", metadata: odd });
    log.requests.length = 0;
    expect(ids(await s.find({ name: "tasks/../odd?&", metadata: odd }))).toEqual([id]);
    expect(log.requests).toHaveLength(2);
    for (const request of log.requests) expect(request).not.toMatch(/odd|x&y|☃/);
  });

  it("fails with DecodeError, as read() does, on a task key whose value is not a task record", async () => {
    const s = store();
    const id = randomUUID();
    await rawPut(url, `${consulOf(s).keyPrefix}celery-task-meta-${id}`, "not json");
    await expect(s.backend.read(id)).rejects.toBeInstanceOf(DecodeError);
    await expect(s.find({})).rejects.toBeInstanceOf(DecodeError);
    await expect(s.countByState()).rejects.toBeInstanceOf(DecodeError);
  });
});
