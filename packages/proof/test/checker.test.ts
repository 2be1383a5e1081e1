/**
 * Can the checker fail? Each test hands it a small history that contains exactly one kind of
 * violation and expects that kind, and only it; the clean histories around them must pass. A
 * checker that passes these is one that cannot pass vacuously.
 */
import { describe, expect, it } from "vitest";
import { type CheckReport, check, VIOLATION_KINDS, type ViolationKind } from "../src/checker.js";
import type {
  ChordEvent,
  FaultEvent,
  FinalEvent,
  FinalTask,
  HistoryEvent,
  IncrEvent,
  ReadEvent,
  RunEvent,
  WriteEvent,
} from "../src/history.js";

const SECRET = "s3cretPassw0rd";
const run: RunEvent = {
  type: "run",
  backend: "test",
  url: "x://:***@h",
  secrets: [SECRET],
  processes: 2,
  seconds: 1,
  faults: [],
  counterExpiresMs: 3000,
  start: 0,
};

const write = (
  p: number,
  id: string,
  status: string,
  start: number,
  end: number,
  applied: boolean | undefined,
  extra: Partial<WriteEvent> = {},
): WriteEvent => ({
  type: "write",
  p,
  id,
  status,
  start,
  end,
  metaKey: `p${p}_${start}`,
  metaValue: start,
  ...(applied === undefined ? {} : { applied }),
  ...(status === "SUCCESS" ? { result: { p, n: start } } : {}),
  ...extra,
});
const read = (
  p: number,
  id: string,
  start: number,
  end: number,
  status: string,
  result: unknown = null,
): ReadEvent => ({
  type: "read",
  p,
  ids: [id],
  start,
  end,
  states: [{ status, result }],
});
const incr = (
  p: number,
  key: string,
  start: number,
  end: number,
  value?: number,
  expiring = false,
): IncrEvent => ({
  type: "incr",
  p,
  key,
  expiring,
  start,
  end,
  ...(value === undefined
    ? { error: { name: "BackendConnectionError", typed: true, text: "cut" } }
    : { value }),
});
const chord = (
  p: number,
  member: string,
  start: number,
  fired = false,
  extra: Partial<ChordEvent> = {},
): HistoryEvent => ({
  type: "chord",
  p,
  group: "g1",
  member,
  size: 2,
  start,
  end: start + 5,
  fired,
  ...extra,
});
const task = (
  status: string,
  metadata: Record<string, unknown>,
  result: unknown = null,
): FinalTask => ({
  status,
  result,
  metadata,
});
const final = (
  tasks: Record<string, FinalTask>,
  counters: Record<string, number> = {},
): FinalEvent => ({
  type: "final",
  start: 1000,
  end: 1001,
  tasks,
  counters,
});

/** A history every rule holds in: a lifecycle, a refused late STARTED, a counter and a chord. */
function cleanHistory(): HistoryEvent[] {
  return [
    run,
    write(0, "t1", "QUEUED", 10, 20, true),
    write(0, "t1", "STARTED", 30, 40, true),
    write(0, "t1", "SUCCESS", 50, 60, true),
    read(1, "t1", 70, 80, "SUCCESS", { p: 0, n: 50 }),
    write(1, "t1", "STARTED", 90, 100, false),
    incr(0, "c0", 10, 20, 1),
    incr(1, "c0", 15, 25, 2),
    incr(1, "c0", 30, 40), // indeterminate: may or may not have counted
    chord(0, "m0", 10),
    chord(1, "m1", 12, true),
    chord(0, "m1", 30, false, { duplicate: true }),
    final({ t1: task("SUCCESS", { p0_10: 10, p0_30: 30, p0_50: 50 }, { p: 0, n: 50 }) }, { c0: 3 }),
  ];
}

function kinds(report: CheckReport): ViolationKind[] {
  return Object.keys(report.byKind) as ViolationKind[];
}

/** The clean history with `change` applied must report exactly `kind`. */
function expectOnly(kind: ViolationKind, history: HistoryEvent[]): CheckReport {
  const report = check(history);
  expect(kinds(report), JSON.stringify(report.examples, null, 1)).toEqual([kind]);
  return report;
}

describe("the checker", () => {
  it("passes a history in which every rule holds, and counts what it saw", () => {
    const report = check(cleanHistory());
    expect(report.examples).toEqual([]);
    expect(report.violations).toBe(0);
    expect(report.ops).toBe(11);
    expect(report.indeterminate).toBe(1);
    expect(report.acknowledged).toBe(10);
  });

  it("catches a read of an unready state after a ready one was read", () => {
    const h = cleanHistory();
    h.splice(4, 0, write(1, "t2", "FAILURE", 10, 20, true), read(0, "t2", 30, 40, "FAILURE"));
    h.push(read(1, "t2", 50, 60, "STARTED"));
    (h.at(-2) as FinalEvent).tasks.t2 = task("FAILURE", { p1_10: 10 });
    // The final event must stay last for readability; the checker does not care about order.
    expectOnly("ready-regressed", h);
  });

  it("catches an applied unready write after a ready state was observed", () => {
    const h = cleanHistory();
    h.push(write(0, "t3", "REVOKED", 10, 20, true), write(1, "t3", "STARTED", 30, 40, true));
    (h.find((e) => e.type === "final") as FinalEvent).tasks.t3 = task("STARTED", {
      p0_10: 10,
      p1_30: 30,
    });
    // The end also lacks the applied ready state, which is the second symptom of the same bug.
    expect(kinds(check(h)).sort()).toEqual(["acknowledged-write-lost", "ready-regressed"]);
  });

  it("catches a SUCCESS that changed its result", () => {
    const h = cleanHistory();
    h.push(read(1, "t1", 110, 120, "SUCCESS", { p: 9, n: 9 }));
    expectOnly("success-changed", h);
  });

  it("catches an acknowledged SUCCESS missing from the final state", () => {
    const h = cleanHistory();
    (h.find((e) => e.type === "final") as FinalEvent).tasks.t1 = task("STARTED", {
      p0_10: 10,
      p0_30: 30,
      p0_50: 50,
    });
    expect(kinds(check(h))).toContain("acknowledged-write-lost");
  });

  it("catches a last acknowledged write that the final state does not hold", () => {
    const h: HistoryEvent[] = [
      run,
      write(0, "t4", "QUEUED", 10, 20, true),
      write(1, "t4", "STARTED", 30, 40, true),
      final({ t4: task("QUEUED", { p0_10: 10, p1_30: 30 }) }),
    ];
    expectOnly("acknowledged-write-lost", h);
  });

  it("catches a final state that no write carried", () => {
    const h: HistoryEvent[] = [
      run,
      write(0, "t5", "QUEUED", 10, 20, true),
      write(1, "t5", "STARTED", 15, 40, true),
      final({ t5: task("RETRY", { p0_10: 10, p1_15: 15 }) }),
    ];
    expectOnly("final-state-unexplained", h);
  });

  it("catches an acknowledged metadata key missing at the end", () => {
    const h = cleanHistory();
    (h.find((e) => e.type === "final") as FinalEvent).tasks.t1 = task(
      "SUCCESS",
      { p0_10: 10, p0_50: 50 },
      { p: 0, n: 50 },
    );
    expectOnly("metadata-lost", h);
  });

  it("catches a refused write whose metadata was stored anyway", () => {
    const h = cleanHistory();
    (h.find((e) => e.type === "final") as FinalEvent).tasks.t1?.metadata &&
      Object.assign((h.find((e) => e.type === "final") as FinalEvent).tasks.t1?.metadata ?? {}, {
        p1_90: 90,
      });
    expectOnly("refused-write-visible", h);
  });

  it("catches a write refused with nothing ready before it", () => {
    const h: HistoryEvent[] = [
      run,
      write(0, "t6", "QUEUED", 10, 20, true),
      write(1, "t6", "STARTED", 30, 40, false),
      final({ t6: task("QUEUED", { p0_10: 10 }) }),
    ];
    expectOnly("refused-without-cause", h);
  });

  it("catches a counter whose final value its increments cannot explain", () => {
    const h = cleanHistory();
    (h.find((e) => e.type === "final") as FinalEvent).counters.c0 = 5;
    expectOnly("counter-mismatch", h);
    (h.find((e) => e.type === "final") as FinalEvent).counters.c0 = 1;
    expectOnly("counter-mismatch", h);
  });

  it("catches a counter value returned twice", () => {
    const h = cleanHistory();
    h.push(incr(0, "c0", 50, 60, 2));
    (h.find((e) => e.type === "final") as FinalEvent).counters.c0 = 4;
    expectOnly("counter-duplicate", h);
  });

  it("catches an expiring counter restarted twice within one lifetime (the Cosmos race)", () => {
    const h = cleanHistory();
    // Both restart the expired counter at once: both get 1, so one increment is lost.
    h.push(incr(0, "e0", 100, 130, 1, true), incr(1, "e0", 105, 140, 1, true));
    expectOnly("counter-duplicate", h);
  });

  it("accepts an expiring counter restarted in two lifetimes", () => {
    const h = cleanHistory();
    h.push(incr(0, "e0", 100, 130, 1, true), incr(1, "e0", 5000, 5030, 1, true));
    expect(check(h).violations).toBe(0);
  });

  it("accepts a restart by a call that outlived the lifetime a later call started (finding 13)", () => {
    const h = cleanHistory();
    // Process 0 is held up by a paused server: it finds the counter that process 1 restarted,
    // waits past that lifetime, and restarts it again. Both answers are right.
    h.push(incr(0, "e0", 100, 4300, 1, true), incr(1, "e0", 101, 130, 1, true));
    expect(check(h).violations).toBe(0);
  });

  it("catches a duplicate between two short calls that a long call overlaps", () => {
    const h = cleanHistory();
    // The long call may be in another lifetime than either short one; the short ones cannot be.
    h.push(
      incr(0, "e0", 100, 130, 1, true),
      incr(1, "e0", 150, 5000, 1, true),
      incr(0, "e0", 200, 230, 1, true),
    );
    const report = expectOnly("counter-duplicate", h);
    expect(report.violations).toBe(1);
    expect(report.examples[0]?.detail).toContain("(100–130) and 1 (+1) to process 0 (200–230)");
  });

  it("catches a chord callback that fired twice", () => {
    const h = cleanHistory();
    h.push(chord(1, "m0", 40, true));
    expectOnly("chord-fired-twice", h);
  });

  it("catches a chord that never fired although every member was delivered", () => {
    const h = cleanHistory().map(
      (e): HistoryEvent => (e.type === "chord" ? { ...e, fired: false } : e),
    );
    expectOnly("chord-never-fired", h);
  });

  it("counts a chord stalled by an indeterminate delivery, without calling it a violation", () => {
    const h = cleanHistory().map(
      (e): HistoryEvent => (e.type === "chord" ? { ...e, fired: false } : e),
    );
    h.push(
      chord(1, "m0", 3, false, {
        error: { name: "BackendConnectionError", typed: true, text: "cut" },
      }),
    );
    const report = check(h);
    expect(report.violations).toBe(0);
    expect(report.notes.chordsStalledByIndeterminate).toBe(1);
  });

  it("catches an error that is not one of core's typed errors", () => {
    const h = cleanHistory();
    h.push(incr(0, "c9", 5, 6, undefined));
    (h.at(-1) as IncrEvent).error = {
      name: "MongoNetworkError",
      typed: false,
      text: "socket hang up",
    };
    (h.find((e) => e.type === "final") as FinalEvent).counters.c9 = 0;
    expectOnly("untyped-error", h);
  });

  it("catches a secret from the URL in an error's cause", () => {
    const h = cleanHistory();
    h.push(incr(0, "c9", 5, 6, undefined));
    (h.at(-1) as IncrEvent).error = {
      name: "ConfigurationError",
      typed: true,
      text: `[resultstore] Malformed URL { cause: TypeError { input: 'x://:${SECRET}@h' } }`,
    };
    (h.find((e) => e.type === "final") as FinalEvent).counters.c9 = 1;
    expectOnly("secret-leaked", h);
  });

  it("reports a history without a final state", () => {
    expect(kinds(check(cleanHistory().filter((e) => e.type !== "final")))).toEqual([
      "acknowledged-write-lost",
    ]);
  });

  it("counts data an in-memory engine lost in a kill as a reset, never as silence", () => {
    const reset: FaultEvent = { type: "fault", kind: "kill", start: 200, end: 300, reset: true };
    const h: HistoryEvent[] = [
      run,
      write(0, "t7", "SUCCESS", 10, 20, true),
      read(1, "t7", 30, 40, "SUCCESS", { p: 0, n: 10 }),
      reset,
      read(1, "t7", 400, 410, "PENDING"),
      incr(0, "c0", 10, 20, 1),
      incr(0, "c0", 400, 410, 1),
      final({}, { c0: 1 }),
    ];
    const report = check(h);
    expect(report.violations, JSON.stringify(report.examples)).toBe(0);
    expect(report.notes.resets).toBe(1);
    expect(report.notes.lostToReset).toBe(2);
    // Without the reset, the same history breaks three rules.
    expect(kinds(check(h.filter((e) => e !== reset))).sort()).toEqual(
      [
        "acknowledged-write-lost",
        "counter-duplicate",
        "counter-mismatch",
        "metadata-lost",
        "success-changed",
      ].sort(),
    );
  });

  it("has a test for every kind it knows", () => {
    // Keeps this file honest when a kind is added.
    expect(VIOLATION_KINDS.length).toBe(21); // 20 here, plus the runner's `inconclusive`
  });
});

/** A read that records the metadata it was given. */
const readMeta = (
  p: number,
  id: string,
  start: number,
  end: number,
  status: string,
  metadata: Record<string, unknown>,
  result: unknown = null,
): ReadEvent => ({
  type: "read",
  p,
  ids: [id],
  start,
  end,
  states: [{ status, result, metadata }],
});
const lost = { name: "BackendConnectionError", typed: true, text: "cut" };
const neverSent = { name: "BackendUnavailableError", typed: true, text: "no host", definite: true };
const finalOf = (h: HistoryEvent[]) => h.find((e) => e.type === "final") as FinalEvent;

describe("the checker's metadata model", () => {
  /** t1's lifecycle with its metadata read in the middle and at the end. */
  function history(): HistoryEvent[] {
    const h = cleanHistory();
    h.splice(
      4,
      1,
      readMeta(1, "t1", 42, 45, "STARTED", { p0_10: 10, p0_30: 30 }),
      readMeta(1, "t1", 70, 80, "SUCCESS", { p0_10: 10, p0_30: 30, p0_50: 50 }, { p: 0, n: 50 }),
    );
    return h;
  }

  it("passes reads that show every key written, in order", () => {
    expect(check(history()).examples).toEqual([]);
  });

  it("catches an acknowledged key missing from a later read", () => {
    const h = history();
    h.push(readMeta(0, "t1", 110, 120, "SUCCESS", { p0_10: 10, p0_50: 50 }, { p: 0, n: 50 }));
    expectOnly("metadata-lost", h);
  });

  it("catches a read that goes back in time (a key an earlier read showed is gone)", () => {
    // The key came from a write whose answer was lost: only the first read proves it landed.
    const h: HistoryEvent[] = [
      run,
      write(0, "t8", "QUEUED", 10, 20, true),
      write(1, "t8", "PROGRESS", 25, 40, undefined, { error: lost }),
      readMeta(1, "t8", 50, 60, "PROGRESS", { p0_10: 10, p1_25: 25 }),
      readMeta(0, "t8", 70, 80, "QUEUED", { p0_10: 10 }),
      final({ t8: task("PROGRESS", { p0_10: 10, p1_25: 25 }) }),
    ];
    expectOnly("read-went-back", h);
  });

  it("catches a key nobody wrote, and a nested value changed after it was sent", () => {
    const h = history();
    h.push(
      readMeta(
        0,
        "t1",
        110,
        120,
        "SUCCESS",
        { p0_10: 10, p0_30: 30, p0_50: 50, leak: 1 },
        {
          p: 0,
          n: 50,
        },
      ),
    );
    expectOnly("metadata-unwritten", h);
    const nested: HistoryEvent[] = [
      run,
      write(0, "t9", "QUEUED", 10, 20, true, { metaKey: "k", metaValue: { deep: { flag: true } } }),
      readMeta(1, "t9", 30, 40, "QUEUED", { k: { deep: { flag: "mutated" } } }),
      final({ t9: task("QUEUED", { k: { deep: { flag: true } } }) }),
    ];
    expectOnly("metadata-unwritten", nested);
    const args: HistoryEvent[] = [
      run,
      write(0, "t9", "QUEUED", 10, 20, true, { args: [10, { deep: [10] }] }),
      {
        ...readMeta(1, "t9", 30, 40, "QUEUED", { p0_10: 10 }),
        states: [
          {
            status: "QUEUED",
            result: null,
            metadata: { p0_10: 10 },
            args: [10, { deep: [10, "mutated"] }],
          },
        ],
      },
      final({ t9: task("QUEUED", { p0_10: 10 }) }),
    ];
    expectOnly("metadata-unwritten", args);
  });

  it("catches a refused write's key in a read", () => {
    const h = history();
    h.push(
      readMeta(
        0,
        "t1",
        110,
        120,
        "SUCCESS",
        { p0_10: 10, p0_30: 30, p0_50: 50, p1_90: 90 },
        {
          p: 0,
          n: 50,
        },
      ),
    );
    expectOnly("refused-write-visible", h);
  });

  it("catches a write that never reached a server, yet shows", () => {
    const h: HistoryEvent[] = [
      run,
      write(0, "t10", "QUEUED", 10, 20, true),
      write(1, "t10", "PROGRESS", 25, 30, undefined, { error: neverSent }),
      readMeta(1, "t10", 50, 60, "QUEUED", { p0_10: 10, p1_25: 25 }),
      final({ t10: task("QUEUED", { p0_10: 10, p1_25: 25 }) }),
    ];
    expectOnly("failed-call-visible", h);
  });

  it("lets a forgotten id read as nothing, and be created again", () => {
    const forget = { type: "forget", p: 1, id: "t1", start: 102, end: 104 } as const;
    const h = history();
    h.push(
      forget,
      readMeta(0, "t1", 110, 120, "PENDING", {}),
      write(0, "t1", "QUEUED", 130, 140, true),
      readMeta(1, "t1", 150, 160, "QUEUED", { p0_130: 130 }),
    );
    finalOf(h).tasks.t1 = task("QUEUED", { p0_130: 130 });
    expect(check(h).examples).toEqual([]);
    // Without the forget, the same reads went back in time.
    expect(kinds(check(h.filter((e) => e !== forget))).sort()).toEqual([
      "acknowledged-write-lost",
      "metadata-lost",
      "success-changed",
    ]);
  });

  it("lets an expiring record vanish once it may have expired, and not before", () => {
    const x = { expiresMs: 2000 };
    const h: HistoryEvent[] = [
      run,
      write(0, "x0", "QUEUED", 10, 20, true, x),
      write(0, "x0", "SUCCESS", 30, 40, true, x),
      readMeta(1, "x0", 3000, 3010, "PENDING", {}),
      write(1, "x0", "QUEUED", 3020, 3030, true, x),
      { ...final({}), start: 9000, end: 9001 },
    ];
    expect(check(h).examples).toEqual([]);
    h.splice(3, 0, readMeta(1, "x0", 500, 510, "PENDING", {}));
    expect(kinds(check(h)).sort()).toEqual(["metadata-lost", "success-changed"]);
  });
  it("lets an expiring record vanish while a slow final read is still going", () => {
    // The final state is read over [start, end]: a record whose expiry falls inside that span may
    // read as gone (CI's cluster proof: a 2 s final read under load, a SUCCESS with 2 s expiry).
    const x = { expiresMs: 2000 };
    const h: HistoryEvent[] = [
      run,
      write(0, "x0", "STARTED", 100, 110, true, x),
      write(0, "x0", "SUCCESS", 120, 130, true, x),
      { ...final({}), start: 900, end: 3500 },
    ];
    expect(check(h).examples).toEqual([]);
    // A final read that ended before the record could expire must still hold it.
    h[3] = { ...final({}), start: 900, end: 1000 };
    expect(kinds(check(h))).toContain("acknowledged-write-lost");
  });
});

describe("the checker's counters", () => {
  const by = (e: IncrEvent, n: number): IncrEvent => ({ ...e, by: n });

  it("catches a later call answered less than an earlier one", () => {
    const h = cleanHistory();
    h.push(by(incr(0, "c1", 10, 20, 3), 2), incr(1, "c1", 30, 40, 1));
    finalOf(h).counters.c1 = 3;
    expectOnly("counter-regressed", h);
  });

  it("catches values skipped with no indeterminate increment to take them", () => {
    const h = cleanHistory();
    h.push(incr(0, "c1", 10, 20, 1), by(incr(1, "c1", 30, 40, 5), 2));
    finalOf(h).counters.c1 = 3;
    expectOnly("counter-skipped", h);
    // An indeterminate increment by 2 that began only after 5 was answered cannot explain it,
    // although the total would.
    const late = by(incr(1, "c1", 50, 60), 2);
    h.push(late);
    finalOf(h).counters.c1 = 5;
    const report = expectOnly("counter-skipped", h);
    expect(report.violations).toBe(1);
    // One that began before (it may land long after it failed) does.
    h.splice(h.indexOf(late), 1, by(incr(1, "c1", 21, 29), 2));
    expect(check(h).examples).toEqual([]);
  });

  it("a call cut by a kill may have counted before it: it explains a unit of the epoch it ended", () => {
    // CI's bounded proof on the memory server: an increment answered 1310 ran across the kill's
    // start, and the checker took unit 1310 of the epoch before the kill for skipped.
    const h = cleanHistory();
    const kill: FaultEvent = { type: "fault", kind: "kill", start: 50, end: 60, reset: true };
    h.push(
      kill,
      incr(0, "c1", 10, 20, 1),
      by(incr(1, "c1", 45, 55, 2), 1),
      by(incr(2, "c1", 46, 48, 5), 3),
    );
    finalOf(h).counters = { c1: 0 }; // the kill lost every counter
    expect(check(h).examples).toEqual([]);
  });

  it("catches an expiring counter that did not restart in a new lifetime (sums per lifetime)", () => {
    const h = cleanHistory();
    h.push(
      incr(0, "e0", 100, 130, 1, true),
      incr(1, "e0", 140, 150, 2, true),
      incr(0, "e0", 5000, 5030, 1, true),
    );
    expect(check(h).examples).toEqual([]);
    h.push(incr(1, "e0", 5040, 5050, 3, true));
    expectOnly("counter-skipped", h);
  });

  it("checks a counter with more calls than a call has argument slots", () => {
    // An in-process run can make 200 000 increments of one counter; spreading them into
    // Math.max threw "Maximum call stack size exceeded".
    const h = cleanHistory();
    for (let i = 0; i < 200_000; i++) h.push(incr(i % 2, "e1", 10 + i, 11 + i, i + 1, true));
    expect(() => check(h)).not.toThrow();
  });

  it("catches overlapping steps as duplicates", () => {
    const h = cleanHistory();
    h.push(by(incr(0, "c1", 10, 20, 3), 3), by(incr(1, "c1", 10, 20, 4), 2));
    finalOf(h).counters.c1 = 5;
    expectOnly("counter-duplicate", h);
  });

  it("counts an increment that never reached a server as no increment", () => {
    const h = cleanHistory().map(
      (e): HistoryEvent => (e.type === "incr" && e.error ? { ...e, error: { ...neverSent } } : e),
    );
    // The end holds 3, but only 1 + 1 were acknowledged and nothing else may have counted.
    expectOnly("counter-mismatch", h);
  });
});

describe("the checker's indeterminate budget", () => {
  const unknowns = (start: number, n: number) =>
    Array.from({ length: n }, (_, i) =>
      incr(i % 2, "e5", start + i * 10, start + i * 10 + 5, undefined, true),
    );

  it("catches too many indeterminate answers outside the fault windows", () => {
    const h = cleanHistory();
    h.push(...unknowns(10_000, 30));
    const report = expectOnly("indeterminate-excess", h);
    expect(report.notes.indeterminateOutsideFaults).toBe(31);
  });

  it("allows them inside a fault window (and its grace), and a few outside", () => {
    const h = cleanHistory();
    const pause: FaultEvent = {
      type: "fault",
      kind: "pause",
      start: 9_000,
      end: 9_500,
      reset: false,
    };
    h.push(pause, ...unknowns(10_000, 30), ...unknowns(40_000, 5));
    const report = check(h);
    expect(report.examples).toEqual([]);
    expect(report.notes.indeterminateOutsideFaults).toBe(6);
  });

  it("does not count definite failures as indeterminate", () => {
    const h = cleanHistory();
    h.push(...unknowns(10_000, 30).map((e) => ({ ...e, error: { ...neverSent } })));
    const report = check(h);
    expect(report.examples).toEqual([]);
    expect(report.failed).toBe(30);
    expect(report.indeterminate).toBe(1);
  });
});

describe("the checker's secret search", () => {
  const secret = `${SECRET}/+@`;
  it.each([
    ["base64", `authorization: Basic ${Buffer.from(`user:${secret}`).toString("base64")}`],
    ["base64 at another offset", Buffer.from(`x${secret}yz`).toString("base64")],
    ["base64url", Buffer.from(`xy${secret}`).toString("base64url")],
    ["percent-encoded", `url: x://u:${encodeURIComponent(secret)}@h`],
  ])("catches a secret %s", (_how, text) => {
    const h = cleanHistory().map(
      (e): HistoryEvent => (e.type === "run" ? { ...e, secrets: [secret] } : e),
    );
    h.push(incr(0, "e9", 5, 6, undefined, true));
    (h.at(-1) as IncrEvent).error = { name: "BackendError", typed: true, text };
    expectOnly("secret-leaked", h);
  });
});

describe("the checker's chords", () => {
  it("catches a chord that fired before every member was delivered", () => {
    const h = cleanHistory().filter((e) => !(e.type === "chord" && e.member === "m0"));
    // m0 is delivered only after the callback already ran.
    h.push(chord(0, "m0", 40));
    expectOnly("chord-fired-early", h);
  });

  it("does not let a delivery that never reached a server excuse a chord that never fired", () => {
    const h = cleanHistory().map(
      (e): HistoryEvent => (e.type === "chord" ? { ...e, fired: false } : e),
    );
    h.push(chord(1, "m0", 3, false, { error: { ...neverSent } }));
    const report = expectOnly("chord-never-fired", h);
    expect(report.notes.chordsStalledByIndeterminate).toBe(0);
  });
});
