// The find bench's pure logic (bench/lib/find-mix.mjs): the record mix, the client-side page cut
// of the native queries that cannot order, and the comparison of ours with theirs.
import { describe, expect, it } from "vitest";
import {
  expectedCounts,
  FIND_STATE,
  FIND_TENANT,
  newestFirst,
  nonZero,
  pageDifference,
  pageOf,
  recordAt,
  STATE_SHARES,
  sameCounts,
  TASK_NAMES,
  TENANTS,
} from "../lib/find-mix.mjs";

describe("the record mix", () => {
  const n = 100_000;
  const mix = Array.from({ length: n }, (_, i) => recordAt(i));

  it("is the same on every call, with unique ids", () => {
    expect(recordAt(12_345)).toEqual(recordAt(12_345));
    expect(new Set(mix.map((r) => r.taskId)).size).toBe(n);
  });

  it("has each state near its share, every tenant and task name", () => {
    for (const [state, share] of STATE_SHARES) {
      const seen = mix.filter((r) => r.state === state).length / n;
      expect(Math.abs(seen - share)).toBeLessThan(0.01);
    }
    expect(new Set(mix.map((r) => r.metadata.tenant)).size).toBe(TENANTS);
    expect(new Set(mix.map((r) => r.name))).toEqual(new Set(TASK_NAMES));
  });

  it("draws state and tenant independently: the bench's query has two pages at 100k", () => {
    const failures = mix.filter(
      (r) => r.state === FIND_STATE && r.metadata.tenant === FIND_TENANT,
    ).length;
    // n × 0.1 × 1/50 = 200 expected.
    expect(failures).toBeGreaterThan(150);
    expect(failures).toBeLessThan(250);
    expect(expectedCounts(n)[FIND_STATE]).toBe(failures);
  });
});

describe("a native page cut in the client", () => {
  const entries = [
    { taskId: "b", time: 5 },
    { taskId: "a", time: 5 },
    { taskId: "c", time: 9 },
    { taskId: "d", time: 1 },
    { taskId: "e", time: 7 },
  ];

  it("orders newest first, ties by task id descending", () => {
    expect([...entries].sort(newestFirst).map((e) => e.taskId)).toEqual(["c", "e", "b", "a", "d"]);
  });

  it("keeps the first `limit` past the last record of the previous page", () => {
    expect(pageOf(entries, 3).map((e) => e.taskId)).toEqual(["c", "e", "b"]);
    expect(pageOf(entries, 3, { taskId: "b", time: 5 }).map((e) => e.taskId)).toEqual(["a", "d"]);
    expect(pageOf(entries, 10, { taskId: "d", time: 1 })).toEqual([]);
  });
});

describe("comparing ours with the native answer", () => {
  it("names the first position where two pages differ", () => {
    expect(pageDifference(["a", "b"], ["a", "b"])).toBeNull();
    expect(pageDifference(["a", "b"], ["a", "c"])).toMatch(/^position 1: ours b, native c/);
    expect(pageDifference(["a"], ["a", "c"])).toMatch(/ours \(none\), native c/);
  });

  it("treats a zero count and an absent state alike", () => {
    expect(nonZero({ SUCCESS: 3, REVOKED: 0 })).toEqual({ SUCCESS: 3 });
    expect(sameCounts({ SUCCESS: 3, REVOKED: 0 }, { SUCCESS: 3 })).toBe(true);
    expect(sameCounts({ SUCCESS: 3 }, { SUCCESS: 4 })).toBe(false);
    expect(sameCounts({ SUCCESS: 3 }, { SUCCESS: 3, FAILURE: 1 })).toBe(false);
  });
});
