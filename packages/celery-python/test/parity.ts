/**
 * The parity scenarios every database runs: the same calls made through the Node store (task id
 * `n-…`) and through resultstore-celery (task id `p-…`, the same call in Python's terms) must leave
 * field-by-field identical records, times and write ids aside; and records cross over (Node records
 * QUEUED, Python finishes it, each reads the other's writes).
 */
import { randomUUID } from "node:crypto";
import { celeryPeer, type PeerRequest } from "@resultstore/celery-interop";
import type { ResultStore } from "@resultstore/core";
import { expect, it } from "vitest";
import { type DriverRequest, pythonDriver } from "./env.js";

export interface ParityTarget {
  /** Our Node store on the records the Python side addresses. */
  store: () => ResultStore;
  /** The driver request (URL after "resultstore+", Celery settings) for the same records. */
  python: () => Omit<DriverRequest, "ops">;
  /** The stored record of a task, raw, with times and write ids already replaced by their kind. */
  raw: (taskId: string) => Promise<unknown>;
  /** False for an engine that loses concurrent updates of one document (FerretDB 1.x). */
  atomic?: boolean;
  /** Celery's STOCK backend (celery-interop's peer) on the same records: its URL and settings. */
  stock: () => Pick<PeerRequest, "url" | "settings">;
}

export const METADATA = { tenant: "acme", traceId: "tr-42" };
const REQUEST = {
  name: "reports.render",
  args: [40, 2],
  kwargs: { pages: 3 },
  worker: "celery@host",
  retries: 0,
  queue: "reports",
};
const TRACEBACK = 'Traceback (most recent call last):\n  File "t.py", line 1\nValueError: boom\n';

/** Each step: the Node call and the same call for the Python driver. */
interface Step {
  node: (store: ResultStore, id: string) => Promise<unknown>;
  python: (id: string) => Record<string, unknown>;
}

const queued: Step = {
  node: (s, id) =>
    s.markQueued(id, {
      metadata: METADATA,
      name: REQUEST.name,
      args: REQUEST.args,
      kwargs: REQUEST.kwargs,
      queue: REQUEST.queue,
    }),
  python: (id) => ({
    op: "queued",
    task_id: id,
    metadata: METADATA,
    name: REQUEST.name,
    args: REQUEST.args,
    kwargs: REQUEST.kwargs,
    queue: REQUEST.queue,
  }),
};

const started: Step = {
  node: (s, id) =>
    s.storeResult(id, { pid: 7, hostname: "host" }, "STARTED", { request: REQUEST, children: [] }),
  python: (id) => ({
    op: "store",
    task_id: id,
    state: "STARTED",
    result: { pid: 7, hostname: "host" },
    request: REQUEST,
  }),
};

const success: Step = {
  node: (s, id) =>
    s.storeResult(id, 42, "SUCCESS", {
      request: { ...REQUEST, groupId: "g-1", parentId: "p-1" },
      children: [[["c-1", null], null]],
    }),
  python: (id) => ({
    op: "store",
    task_id: id,
    state: "SUCCESS",
    result: 42,
    request: { ...REQUEST, groupId: "g-1", parentId: "p-1", children: ["c-1"] },
  }),
};

const failure: Step = {
  node: (s, id) =>
    s.storeResult(
      id,
      { exc_type: "ValueError", exc_message: ["boom"], exc_module: "builtins" },
      "FAILURE",
      { traceback: TRACEBACK, request: REQUEST, children: [] },
    ),
  python: (id) => ({
    op: "store",
    task_id: id,
    state: "FAILURE",
    exception: ["ValueError", "boom"],
    traceback: TRACEBACK,
    request: REQUEST,
  }),
};

const retry: Step = {
  node: (s, id) =>
    s.storeResult(
      id,
      { exc_type: "ValueError", exc_message: ["again"], exc_module: "builtins" },
      "RETRY",
      { request: REQUEST, children: [] },
    ),
  python: (id) => ({
    op: "store",
    task_id: id,
    state: "RETRY",
    exception: ["ValueError", "again"],
    request: REQUEST,
  }),
};

const progress: Step = {
  node: (s, id) => s.storeResult(id, { done: 1 }, "PROGRESS", { metadata: { step: "two" } }),
  python: (id) => ({
    op: "store",
    task_id: id,
    state: "PROGRESS",
    result: { done: 1 },
    metadata: { step: "two" },
  }),
};

const SCENARIOS: Record<string, Step[]> = {
  "QUEUED with metadata and request fields": [queued],
  "QUEUED, then a worker's STARTED (metadata kept)": [queued, started],
  "QUEUED, STARTED, SUCCESS with group, parent and children": [queued, started, success],
  "SUCCESS, then a late STARTED: refused, nothing changes": [queued, success, started],
  "FAILURE, then RETRY: refused (a ready state is never replaced by an unready one)": [
    queued,
    failure,
    retry,
  ],
  "SUCCESS, then FAILURE: refused (SUCCESS is final)": [queued, success, failure],
  "a custom state merges metadata key by key": [queued, progress],
  "STARTED with no record before it": [started],
};

/** Registers the parity tests on `target`. */
export function parityTests(target: ParityTarget): void {
  for (const [name, steps] of Object.entries(SCENARIOS)) {
    it(`parity: ${name}`, async () => {
      const suffix = randomUUID();
      const nodeId = `n-${suffix}`;
      const pyId = `p-${suffix}`;
      for (const step of steps) await step.node(target.store(), nodeId);
      await pythonDriver({ ...target.python(), ops: steps.map((step) => step.python(pyId)) }).then(
        (answers) => expect(answers.filter((a) => a !== null)).toEqual([]),
      );
      const [ours, theirs] = await Promise.all([target.raw(nodeId), target.raw(pyId)]);
      expect(ours, "Node stored a record").toBeTruthy();
      expect(theirs).toEqual(ours);
    });
  }

  it("crossing over: Node records QUEUED, Python finishes, each reads the other's writes", async () => {
    const id = `x-${randomUUID()}`;
    await queued.node(target.store(), id);
    const [beforeMeta, , , afterMeta, lateStart] = await pythonDriver({
      ...target.python(),
      ops: [
        { op: "meta", task_id: id },
        started.python(id),
        success.python(id),
        { op: "meta", task_id: id },
        started.python(id),
      ],
    });
    expect(beforeMeta).toMatchObject({ status: "QUEUED", metadata: METADATA });
    expect(afterMeta).toMatchObject({ status: "SUCCESS", result: 42, metadata: METADATA });
    expect(lateStart).toBeNull();
    const meta = await target.store().getMeta(id);
    expect(meta).toMatchObject({ status: "SUCCESS", result: 42, metadata: METADATA });
    expect(meta.name).toBe(REQUEST.name);
    expect((await target.store().markStarted(id)).applied).toBe(false);
  });

  it("records Celery's stock backend wrote: a later write merges over STARTED, and a stock SUCCESS refuses STARTED", async () => {
    const suffix = randomUUID();
    const [startedId, succeededId] = [`s-${suffix}`, `t-${suffix}`];
    await celeryPeer({
      ...target.stock(),
      ops: [
        {
          op: "store",
          task_id: startedId,
          state: "STARTED",
          result: { pid: 1, hostname: "stock" },
        },
        { op: "store", task_id: succeededId, state: "SUCCESS", result: 7 },
      ],
    });
    const [, , overStarted, overSuccess] = await pythonDriver({
      ...target.python(),
      ops: [
        {
          op: "store",
          task_id: startedId,
          state: "SUCCESS",
          result: 42,
          metadata: { by: "python" },
        },
        {
          op: "store",
          task_id: succeededId,
          state: "STARTED",
          result: { pid: 2, hostname: "late" },
        },
        { op: "meta", task_id: startedId },
        { op: "meta", task_id: succeededId },
      ],
    });
    expect(overStarted).toMatchObject({
      status: "SUCCESS",
      result: 42,
      metadata: { by: "python" },
    });
    expect(overSuccess).toMatchObject({ status: "SUCCESS", result: 7 });
    expect(await target.store().getMeta(startedId)).toMatchObject({
      status: "SUCCESS",
      result: 42,
      metadata: { by: "python" },
    });
    expect(await target.store().getMeta(succeededId)).toMatchObject({
      status: "SUCCESS",
      result: 7,
    });
  });

  it.skipIf(target.atomic === false)(
    "concurrent merges: 4 Python threads and Node write one task at once, no metadata key is lost",
    async () => {
      const id = `r-${randomUUID()}`;
      const rounds = 8;
      await target.store().markQueued(id, { metadata: { queued: true } });
      const node = (async () => {
        for (let j = 0; j < rounds; j++)
          await target.store().storeResult(id, j, "PROGRESS", { metadata: { node: j } });
      })();
      const [python] = await Promise.all([
        pythonDriver({
          ...target.python(),
          ops: [{ op: "race", task_id: id, threads: 4, rounds }],
        }),
        node,
      ]);
      expect(python).toEqual([null]);
      const last = rounds - 1;
      expect((await target.store().getMeta(id)).metadata).toEqual({
        queued: true,
        node: last,
        t0: last,
        t1: last,
        t2: last,
        t3: last,
      });
    },
  );

  it("incr: Node and Python count on the same counter, exactly", async () => {
    const key = `chord-unlock-${randomUUID()}`;
    expect(await target.store().incr(key)).toBe(1);
    const [two, three] = await pythonDriver({
      ...target.python(),
      ops: [
        { op: "incr", key },
        { op: "incr", key },
      ],
    });
    expect([two, three]).toEqual([2, 3]);
    expect(await target.store().incr(key)).toBe(4);
  });

  chordTests(target);
}

/**
 * A mixed fleet finishing one chord of four: Node members go through `store.onChordPartReturn`
 * (the callback a function here), Python members through the backend's `on_chord_part_return`
 * (the callback `driver.collect`, run eagerly by the driver). Both add to the one member set, a
 * member delivered twice (on either side, or once on each) counts once, and whichever side counts
 * the last member runs the callback, once, with the results in the group's order.
 */
function chordTests(target: ParityTarget): void {
  const newChord = async () => {
    const groupId = `g-${randomUUID()}`;
    const members = [1, 2, 3, 4].map((i) => `${groupId}-${i}`);
    await target.store().saveGroup(groupId, members);
    for (const [i, id] of members.entries())
      await target.store().storeResult(id, i + 1, "SUCCESS", { request: { groupId } });
    let nodeRuns = 0;
    const node = (taskId: string) =>
      target.store().onChordPartReturn({ groupId, taskId, size: members.length }, () => {
        nodeRuns++;
      });
    const { url, settings } = target.python();
    const python = (...taskIds: string[]) =>
      pythonDriver({
        url,
        // Not extended: FerretDB 1.x cannot store the callback's args, a list of lists.
        settings: { ...settings, result_extended: false },
        ops: [
          ...taskIds.map((taskId) => ({
            op: "chord_part",
            group_id: groupId,
            task_id: taskId,
            body_id: `${groupId}-callback`,
          })),
          { op: "collected" },
        ],
      }).then((answers) => answers.at(-1));
    return { groupId, members, node, python, nodeRuns: () => nodeRuns };
  };

  it("chords: Node counts two members (one twice), Python the other two and a duplicate; Python runs the callback once", async () => {
    const { groupId, members, node, python, nodeRuns } = await newChord();
    const [m1, m2, m3, m4] = members as [string, string, string, string];
    expect(await node(m1)).toEqual({ count: 1, complete: false, duplicate: false });
    expect(await node(m1)).toEqual({ count: 1, complete: false, duplicate: false });
    expect(await node(m2)).toEqual({ count: 2, complete: false, duplicate: false });
    // m1 again from Python, m4 twice: the second m4 comes after the callback deleted the group.
    expect(await python(m3, m1, m4, m4)).toEqual([[1, 2, 3, 4]]);
    expect(await node(m2)).toEqual({ count: 4, complete: false, duplicate: true });
    expect(nodeRuns()).toBe(0);
    expect(await target.store().getMeta(`${groupId}-callback`)).toMatchObject({
      status: "SUCCESS",
      result: [1, 2, 3, 4],
    });
  });

  it("chords: Python counts two members (one twice), Node the last two and runs the callback once; a late Python duplicate runs nothing", async () => {
    const { groupId, members, node, python, nodeRuns } = await newChord();
    const [m1, m2, m3, m4] = members as [string, string, string, string];
    expect(await python(m1, m2, m1)).toEqual([]);
    expect(await node(m3)).toEqual({ count: 3, complete: false, duplicate: false });
    expect(await node(m4)).toEqual({ count: 4, complete: true, duplicate: false });
    expect(await node(m4)).toEqual({ count: 4, complete: false, duplicate: true });
    expect(await python(m2, m4)).toEqual([]);
    expect(nodeRuns()).toBe(1);
    // Python stored nothing for the callback either (a chord error would have failed it).
    expect(await target.store().getMeta(`${groupId}-callback`)).toMatchObject({
      status: "PENDING",
    });
  });
}

/** Replaces a date with "<date>" and a write id with "<write id>", recursively in objects. */
export function withoutTimes(value: unknown, fields: readonly string[]): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!fields.includes(key) || v === null || v === undefined) out[key] = v;
    else out[key] = `<${key}: ${v instanceof Date ? "date" : typeof v}>`;
  }
  return out;
}
