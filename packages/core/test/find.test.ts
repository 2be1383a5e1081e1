/**
 * `find` and `countByState` in core: input checks, the cursor, the toolkit's order and matching,
 * and memory://'s index against a brute-force reference. The behaviour every backend shares is
 * in the conformance suite's `find` group.
 */
import { describe, expect, it } from "vitest";
import {
  comparePositions,
  compareTaskIds,
  firstInOrder,
  matchesFindQuery,
  PageCollector,
  positionOf,
} from "../src/backend.js";
import {
  encodeJson,
  type FindQuery,
  InvalidCursorError,
  InvalidQueryError,
  KNOWN_STATES,
  MemoryBackend,
  ResultStore,
  type TaskRecord,
  type TaskWrite,
  UnsupportedOperationError,
} from "../src/index.js";

/** A write straight to a backend, with the times given (core stamps them in a real write). */
function write(
  taskId: string,
  over: Partial<TaskWrite> & { time?: number | null } = {},
): TaskWrite {
  const { time = 1_000, ...rest } = over;
  return {
    taskId,
    status: "SUCCESS",
    result: null,
    resultJson: "null",
    traceback: null,
    dateDone: time === null ? null : new Date(time),
    updatedAt: time === null ? null : new Date(time),
    expiresAt: null,
    ...rest,
  };
}

/** Every page of `find`, in order. */
async function allPages(
  store: ResultStore,
  filter: Parameters<ResultStore["find"]>[0],
  options: { limit?: number; order?: "newest" | "oldest" } = {},
) {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; ; pages++) {
    const page = await store.find(filter, { ...options, ...(cursor && { cursor }) });
    ids.push(...page.tasks.map((t) => t.taskId));
    if (!page.cursor) return { ids, pages: pages + 1 };
    cursor = page.cursor;
  }
}

describe("find's input checks", () => {
  const store = new ResultStore(new MemoryBackend());
  const bad: [string, () => Promise<unknown>][] = [
    ["an unknown filter key", () => store.find({ status: "SUCCESS" } as never)],
    ["an unknown option key", () => store.find({}, { size: 10 } as never)],
    ["a lower-case state", () => store.find({ state: "success" })],
    ["a state that is not a string", () => store.find({ state: 1 as never })],
    ["an empty state list", () => store.find({ state: [] })],
    ["an empty name", () => store.find({ name: "" })],
    ["a metadata object value", () => store.find({ metadata: { a: { b: 1 } as never } })],
    ["a metadata array value", () => store.find({ metadata: { a: [1] as never } })],
    ["a metadata null value", () => store.find({ metadata: { a: null as never } })],
    ["a NaN metadata value", () => store.find({ metadata: { a: Number.NaN } })],
    ["an infinite metadata value", () => store.find({ metadata: { a: Infinity } })],
    ["a $ metadata key", () => store.find({ metadata: { $where: "x" } })],
    ["a dotted metadata key", () => store.find({ metadata: { "a.b": "x" } })],
    ["a __proto__ metadata key", () => store.find({ metadata: JSON.parse('{"__proto__": 1}') })],
    ["metadata that is not an object", () => store.find({ metadata: "a=b" as never })],
    ["an invalid date", () => store.find({ after: new Date(Number.NaN) })],
    ["a date given as text", () => store.find({ before: "2024-01-01" as never })],
    ["after equal to before", () => store.find({ after: new Date(5), before: new Date(5) })],
    ["after later than before", () => store.find({ after: new Date(6), before: new Date(5) })],
    ["limit 0", () => store.find({}, { limit: 0 })],
    ["limit 1001", () => store.find({}, { limit: 1001 })],
    ["a fractional limit", () => store.find({}, { limit: 1.5 })],
    ["an unknown order", () => store.find({}, { order: "random" as never })],
    ["a filter that is not an object", () => store.find("SUCCESS" as never)],
    ["countByState with a state", () => store.countByState({ state: "SUCCESS" } as never)],
    ["countByState with a bad key", () => store.countByState({ metadata: { "": 1 } })],
  ];
  it.each(bad)("%s is an InvalidQueryError", async (_name, call) => {
    await expect(call()).rejects.toBeInstanceOf(InvalidQueryError);
  });

  it("accepts custom state names (Celery's update_state), and the limits 1 and 1000", async () => {
    await store.markQueued("c1");
    await store.storeResult("c1", { done: 3 }, "PROGRESS");
    expect((await store.find({ state: "PROGRESS" })).tasks.map((t) => t.taskId)).toEqual(["c1"]);
    await expect(store.find({}, { limit: 1 })).resolves.toBeTruthy();
    await expect(store.find({}, { limit: 1000 })).resolves.toBeTruthy();
  });

  it("a backend without find or countByState: UnsupportedOperationError, after the checks", async () => {
    const backend = new MemoryBackend();
    Object.assign(backend, { find: undefined, countByState: undefined });
    const bare = new ResultStore(backend);
    await expect(bare.find()).rejects.toBeInstanceOf(UnsupportedOperationError);
    await expect(bare.countByState()).rejects.toBeInstanceOf(UnsupportedOperationError);
    await expect(bare.find({ state: "nope" })).rejects.toBeInstanceOf(InvalidQueryError);
  });
});

describe("find's cursor", () => {
  const seeded = async () => {
    const backend = new MemoryBackend();
    for (let i = 0; i < 5; i++) await backend.write(write(`t${i}`, { time: 1_000 + i }));
    return new ResultStore(backend);
  };

  it("is refused with another filter, another order, or when tampered with", async () => {
    const store = await seeded();
    const { cursor } = await store.find({ state: "SUCCESS" }, { limit: 2 });
    expect(cursor).toEqual(expect.any(String));
    const next = (filter: object, options: object) =>
      store.find(filter, { limit: 2, cursor: cursor as string, ...options });
    await expect(next({ state: "SUCCESS" }, {})).resolves.toBeTruthy();
    await expect(next({ state: "FAILURE" }, {})).rejects.toBeInstanceOf(InvalidCursorError);
    await expect(next({}, {})).rejects.toBeInstanceOf(InvalidCursorError);
    await expect(next({ state: "SUCCESS" }, { order: "oldest" })).rejects.toBeInstanceOf(
      InvalidCursorError,
    );
    const json = JSON.parse(Buffer.from(cursor as string, "base64url").toString());
    const forged = (change: object) =>
      Buffer.from(JSON.stringify({ ...json, ...change })).toString("base64url");
    for (const cursor of [
      "",
      "not base64!",
      Buffer.from("[1,2]").toString("base64url"),
      Buffer.from("{").toString("base64url"),
      forged({ v: 2 }),
      forged({ extra: 1 }),
      forged({ i: "../x" }),
      forged({ i: "" }),
      forged({ t: "1000" }),
      forged({ s: 1e300 }),
      forged({ t: json.s + 1 }),
      forged({ o: "sideways" }),
      "x".repeat(5000),
    ]) {
      await expect(
        store.find({ state: "SUCCESS" }, { limit: 2, cursor }),
        `cursor ${cursor.slice(0, 40)}`,
      ).rejects.toBeInstanceOf(InvalidCursorError);
    }
  });

  it("state lists in any order and with repeats are one filter", async () => {
    const store = await seeded();
    const first = await store.find({ state: ["SUCCESS", "FAILURE"] }, { limit: 2 });
    const again = await store.find(
      { state: ["FAILURE", "SUCCESS", "FAILURE"] },
      { limit: 2, cursor: first.cursor as string },
    );
    expect(again.tasks.map((t) => t.taskId)).toEqual(["t2", "t1"]);
  });

  it("keeps the first page's snapshot: a record written later is not on later pages", async () => {
    const store = await seeded();
    const first = await store.find({}, { limit: 2, order: "oldest" });
    expect(first.tasks.map((t) => t.taskId)).toEqual(["t0", "t1"]);
    await store.markSuccess("late", 1);
    await store.markRetry("t3", new Error("x")).catch(() => {}); // refused: SUCCESS is final
    const rest = await store.find({}, { limit: 10, order: "oldest", cursor: first.cursor ?? "" });
    expect(rest.tasks.map((t) => t.taskId)).toEqual(["t2", "t3", "t4"]);
    expect(rest.cursor).toBeNull();
  });
});

describe("find's order", () => {
  it("firstInOrder cuts one page from candidates of several sources, ties by task id", () => {
    const at = (taskId: string, ms: number | null, dateDone: number | null = null) => ({
      taskId,
      updatedAt: ms === null ? null : new Date(ms),
      dateDone: dateDone === null ? null : new Date(dateDone),
    });
    const ours = [at("b", 20), at("c", 10), at("a", 20)];
    const celerys = [at("d", null, 15), at("e", null)];
    const ids = (order: "newest" | "oldest", limit: number) =>
      firstInOrder([...ours, ...celerys], { order, limit }).map((r) => r.taskId);
    expect(ids("newest", 3)).toEqual(["b", "a", "d"]);
    expect(ids("oldest", 3)).toEqual(["e", "c", "d"]);
    expect(ids("newest", 10)).toEqual(["b", "a", "d", "c", "e"]);
  });

  it("compares task ids by code point, as UTF-8 bytes do", () => {
    const ids = ["b", "a", "\u{1F600}", "\uFFFD", "\uE000", "ab", "A", "z"];
    const byBytes = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...ids].sort(compareTaskIds)).toEqual(byBytes);
  });

  it("puts records without a time first, oldest first; uses dateDone without updatedAt", async () => {
    const backend = new MemoryBackend();
    await backend.write(write("none-b", { status: "STARTED", time: null }));
    await backend.write(write("none-a", { status: "STARTED", time: null }));
    await backend.write(write("celery", { updatedAt: null, dateDone: new Date(50) }));
    await backend.write(write("ours", { time: 40 }));
    const store = new ResultStore(backend);
    const oldest = await store.find({}, { order: "oldest" });
    expect(oldest.tasks.map((t) => t.taskId)).toEqual(["none-a", "none-b", "ours", "celery"]);
    const newest = await store.find({}, { order: "newest" });
    expect(newest.tasks.map((t) => t.taskId)).toEqual(["celery", "ours", "none-b", "none-a"]);
    const timed = await store.find({ after: new Date(0) });
    expect(timed.tasks.map((t) => t.taskId)).toEqual(["celery", "ours"]);
    expect((await allPages(store, {}, { limit: 1, order: "newest" })).ids).toEqual(
      newest.tasks.map((t) => t.taskId),
    );
  });

  it("PageCollector keeps the first `limit` of a scan in order", () => {
    const records = Array.from({ length: 200 }, (_, i) => ({
      taskId: `t${(i * 37) % 200}`,
      status: "SUCCESS",
      name: null,
      metadata: {},
      updatedAt: i % 7 === 0 ? null : new Date(1000 + ((i * 13) % 50)),
      dateDone: null,
      expiresAt: null,
    })) as unknown as TaskRecord[];
    for (const order of ["newest", "oldest"] as const) {
      const query: FindQuery = { asOf: new Date(1030), order, limit: 25, now: new Date() };
      const collector = new PageCollector(query);
      for (const record of records) collector.offer(record);
      const sign = order === "oldest" ? 1 : -1;
      const expected = records
        .filter((r) => matchesFindQuery(r, query))
        .sort((a, b) => sign * comparePositions(positionOf(a), positionOf(b)))
        .slice(0, 25);
      expect(collector.page()).toEqual(expected);
    }
  });
});

describe("memory://'s find index", () => {
  /** A reproducible stream of numbers in [0, 1). */
  function random(seed: number) {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
  }

  it("answers as a brute-force scan does while records are written, rewritten and removed", async () => {
    const next = random(7);
    const backend = new MemoryBackend();
    const states = ["QUEUED", "STARTED", "RETRY", "SUCCESS", "FAILURE"];
    let clock = 10_000;
    for (let step = 0; step < 4000; step++) {
      const taskId = `t${Math.floor(next() * 600)}`;
      const roll = next();
      if (roll < 0.08) await backend.remove(taskId);
      else {
        // Mostly forward in time, sometimes the same millisecond, sometimes back (another clock).
        clock += roll < 0.5 ? 0 : roll < 0.9 ? 1 : -30;
        const status = states[Math.floor(next() * states.length)] as string;
        await backend.write(
          write(taskId, {
            status,
            time: roll > 0.97 ? null : clock,
            // A string too: memory's prefilter looks for its JSON text in the stored metadata.
            metadata: { tenant: Math.floor(next() * 3), team: `team-${Math.floor(next() * 3)}` },
            expiresAt: roll < 0.12 ? new Date(1) : null,
          }),
        );
      }
      if (step % 97 !== 0) continue;
      const all = (await backend.readMany([...Array(600).keys()].map((i) => `t${i}`))).filter(
        (r): r is TaskRecord => r !== null,
      );
      for (const order of ["newest", "oldest"] as const) {
        const query: FindQuery = {
          order,
          asOf: new Date(clock - Math.floor(next() * 20)),
          limit: 1 + Math.floor(next() * 40),
          now: new Date(),
          ...(next() < 0.5 && { states: ["SUCCESS", "RETRY"] }),
          ...(next() < 0.3 && { metadata: [["tenant", 1]] as const }),
          ...(next() < 0.3 && { metadata: [["team", "team-2"]] as const }),
          ...(next() < 0.3 && { after: new Date(clock - 200) }),
          ...(next() < 0.3 && { before: new Date(clock - 5) }),
        };
        const sign = order === "oldest" ? 1 : -1;
        const expected = all
          .filter((r) => matchesFindQuery(r, query))
          .sort((a, b) => sign * comparePositions(positionOf(a), positionOf(b)));
        const pivot = expected[Math.floor(next() * expected.length)];
        const found = await backend.find(query);
        expect(found.map((r) => r.taskId)).toEqual(
          expected.slice(0, query.limit).map((r) => r.taskId),
        );
        if (!pivot) continue;
        const resumed = { ...query, startAfter: positionOf(pivot) };
        const rest = expected.slice(
          expected.indexOf(pivot) + 1,
          expected.indexOf(pivot) + 1 + query.limit,
        );
        expect((await backend.find(resumed)).map((r) => r.taskId)).toEqual(
          rest.map((r) => r.taskId),
        );
      }
    }
  });

  it("lists a record rewritten within the same millisecond by its new state and metadata", async () => {
    // The rewrite keeps the record's index entry (same position), which must now read the new
    // version: find rules records out on the entry's record before looking the id up.
    const backend = new MemoryBackend();
    await backend.write(write("t1", { status: "STARTED", metadata: { team: "a" } }));
    await backend.write(write("t1", { status: "FAILURE", metadata: { team: "b" } }));
    const query = (over: Partial<FindQuery>): FindQuery => ({
      order: "newest",
      asOf: new Date(2_000),
      limit: 10,
      now: new Date(),
      ...over,
    });
    const ids = async (over: Partial<FindQuery>) =>
      (await backend.find(query(over))).map((r) => r.taskId);
    expect(await ids({ states: ["FAILURE"] })).toEqual(["t1"]);
    expect(await ids({ states: ["STARTED"] })).toEqual([]);
    expect(await ids({ metadata: [["team", "b"]] })).toEqual(["t1"]);
    expect(await ids({ metadata: [["team", "a"]] })).toEqual([]);
  });

  it("pages 100,000 records, each once; a page deep in the order costs what the first does", async () => {
    const backend = new MemoryBackend();
    const total = 100_000;
    const resultJson = encodeJson(null);
    for (let i = 0; i < total; i++) {
      const status = i % 10 === 0 ? "FAILURE" : "SUCCESS";
      await backend.write({
        ...write(`task-${i}`, { status, time: 1_000_000 + Math.floor(i / 3) }),
        resultJson,
        metadata: { tenant: i % 4 },
      });
    }
    const store = new ResultStore(backend, { telemetry: false });
    const { ids, pages } = await allPages(store, {}, { limit: 1000 });
    expect(ids.length).toBe(total);
    expect(new Set(ids).size).toBe(total);
    expect(pages).toBe(total / 1000);
    // The walk starts at the cursor's place (a binary search), not at the start of the order: a
    // page near the end of 100,000 records takes about as long as the first page.
    let deep: string | undefined; // the cursor after 95,000 of the 100,000, oldest first
    for (let page = 0; page < 95; page++) {
      const next = await store.find({}, { limit: 1000, order: "oldest", cursor: deep });
      deep = next.cursor ?? undefined;
    }
    const time = async (cursor?: string) => {
      const started = performance.now();
      for (let i = 0; i < 20; i++)
        await store.find({}, { limit: 10, order: "oldest", ...(cursor && { cursor }) });
      return performance.now() - started;
    };
    const firstMs = await time();
    const deepMs = await time(deep);
    expect(deep).toBeTruthy();
    expect(deepMs).toBeLessThan(firstMs * 20 + 200);
    const failed = await allPages(
      store,
      { state: "FAILURE", metadata: { tenant: 2 } },
      { limit: 1000 },
    );
    expect(failed.ids.length).toBe(total / 20);
    const counts = await store.countByState({ metadata: { tenant: 0 } });
    expect((counts.SUCCESS ?? 0) + (counts.FAILURE ?? 0)).toBe(total / 4);
    expect(Object.keys(counts).slice(0, KNOWN_STATES.length)).toEqual([...KNOWN_STATES]);
  }, 120_000);
});
