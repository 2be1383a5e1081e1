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
    expect(report.examples[0]?.detail).toContain("(100–130) and to process 0 (200–230)");
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

  it("has a test above for every kind it knows", () => {
    // Keeps this file honest when a kind is added.
    expect(VIOLATION_KINDS.length).toBe(14); // 13 above, plus the runner's `inconclusive`
  });
});
