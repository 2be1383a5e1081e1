// The harness's own logic (no database, no timing asserted): bench figures are only as honest as
// the way samples are taken and medians chosen.
import { describe, expect, it } from "vitest";
import {
  alternate,
  measure,
  median,
  medianSample,
  ratio,
  SampleTimeout,
  sampleWithin,
  withTimeout,
} from "../lib/measure.mjs";
import { targetsFor } from "../lib/report.mjs";

describe("measure", () => {
  it("issues exactly `count` calls and never more than `width` at once", async () => {
    let inFlight = 0;
    let peak = 0;
    const seen = [];
    const sample = await measure(
      async (i) => {
        seen.push(i);
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
      },
      { count: 50, width: 8 },
    );
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(peak).toBe(8);
    expect(sample.ops).toBe(50);
    expect(sample.opsPerSec).toBeGreaterThan(0);
    expect(sample.p50).toBeLessThanOrEqual(sample.p99);
  });

  it("stops starting calls after maxSeconds and counts only finished ones", async () => {
    const sample = await measure(() => new Promise((r) => setTimeout(r, 20)), {
      count: 1_000_000,
      width: 2,
      maxSeconds: 0.05,
    });
    expect(sample.ops).toBeGreaterThan(0);
    expect(sample.ops).toBeLessThan(20);
  });

  it("fails the sample when a call throws", async () => {
    await expect(
      measure(
        async (i) => {
          if (i === 3) throw new Error("boom");
        },
        { count: 10, width: 1 },
      ),
    ).rejects.toThrow("boom");
  });
});

describe("medians and rounds", () => {
  it("takes the middle value and the sample with the median rate", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2);
    const samples = [{ opsPerSec: 10 }, { opsPerSec: 30 }, { opsPerSec: 20 }];
    expect(medianSample(samples)).toBe(samples[2]);
  });

  it("rotates the order of targets every round and reports a failing target's error", async () => {
    const order = [];
    const results = await alternate(["a", "b", "c"], 3, async (t, round) => {
      order.push(`${round}${t}`);
      if (t === "c") throw new Error("down\nstack");
      return { opsPerSec: round + 1 };
    });
    // Round r starts at target r; c failed in round 0, so it is not run again.
    expect(order).toEqual(["0a", "0b", "0c", "1b", "1a", "2a", "2b"]);
    expect(results[0].sample.opsPerSec).toBe(2);
    expect(results[2]).toEqual({ error: "down" });
  });

  it("ratios need both rates", () => {
    expect(ratio({ opsPerSec: 50 }, { opsPerSec: 100 })).toBe(0.5);
    expect(ratio({ opsPerSec: 50 }, { error: "x" })).toBeUndefined();
  });
});

describe("targets", () => {
  const row = (op, width, ours, raw, guarded, celery) => ({
    op,
    width,
    ours: { opsPerSec: ours },
    raw: { opsPerSec: raw },
    guarded: guarded === undefined ? undefined : { opsPerSec: guarded },
    celery: celery === undefined ? undefined : { opsPerSec: celery },
  });

  it("holds writes to the guarded op and Celery's 5× at 64 in flight", () => {
    const checks = targetsFor("mongo", row("store", 64, 450, 1000, 500, 100));
    expect(checks.map((c) => [c.label, c.floor, c.met])).toEqual([
      ["guarded", 0.9, true],
      ["Celery", 5, false],
    ]);
  });

  it("holds reads to raw, Celery to 1× at 1 in flight, memory to half a Map", () => {
    expect(targetsFor("dynamodb", row("get", 1, 85, 100, undefined, 80)).map((c) => c.met)).toEqual(
      [false, true],
    );
    expect(targetsFor("memory", row("store", 1, 60, 100)).map((c) => [c.label, c.met])).toEqual([
      ["Map", true],
    ]);
  });

  it("sets no target against a column the backend was not measured with, misses a failed one", () => {
    const oursOnly = { op: "get", width: 64, ours: { opsPerSec: 100 } };
    expect(targetsFor("opensearch", oursOnly)).toEqual([]);
    const failed = { ...oursOnly, raw: { error: "timed out" }, celery: { missing: true } };
    expect(targetsFor("elasticsearch", failed).map((c) => [c.label, c.met])).toEqual([
      ["raw", false],
    ]);
  });
});

describe("sampleWithin", () => {
  const never = () => new Promise(() => {});
  const quick = async () => ({ opsPerSec: 10 });

  it("passes a sample that finishes in time through", async () => {
    const target = { kind: "raw" };
    await expect(sampleWithin(target, "get @1", quick, { seconds: 1 })).resolves.toEqual({
      opsPerSec: 10,
    });
    expect(target.broken).toBeUndefined();
  });

  it("abandons a sample that never finishes: SampleTimeout, target broken, abort called", async () => {
    let aborted = 0;
    const target = { kind: "celery", abort: () => aborted++ };
    await expect(
      sampleWithin(target, "getMany @64", never, { seconds: 0.05 }),
    ).rejects.toBeInstanceOf(SampleTimeout);
    expect(aborted).toBe(1);
    expect(target.broken).toMatch(/celery getMany @64 did not finish within 0.05 s/);
  });

  it("waits at most drainSeconds for the abandoned calls", async () => {
    const started = Date.now();
    await expect(
      sampleWithin({ kind: "raw" }, "x", never, { seconds: 0.05, drainSeconds: 0.05 }),
    ).rejects.toBeInstanceOf(SampleTimeout);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("lets alternate() finish the other targets when one hangs (the run goes on)", async () => {
    const targets = [
      { kind: "ours", run: quick },
      { kind: "raw", run: never },
    ];
    const results = await alternate(targets, 3, (t) =>
      t.broken
        ? Promise.reject(new Error(`skipped: ${t.broken}`))
        : sampleWithin(t, "getMany @64", t.run, { seconds: 0.05 }),
    );
    expect(results[0].sample).toEqual({ opsPerSec: 10 });
    expect(results[1].error).toMatch(/did not finish within/);
  });

  it("withTimeout keeps a late rejection handled", async () => {
    const late = new Promise((_, reject) => setTimeout(() => reject(new Error("late")), 20));
    await expect(withTimeout(late, 0.01)).rejects.toBeInstanceOf(SampleTimeout);
    await new Promise((r) => setTimeout(r, 40)); // an unhandled rejection would fail the run
  });
});
