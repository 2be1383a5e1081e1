// bench/scale.mjs's growth and cleanup modes on memory:// (small sizes, each in its own process as
// bench/all.mjs runs them), the helpers they share, and how RESULTS.md shows a growth run.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { renderResults } from "../lib/report.mjs";
import { growthRatios, parseNamedUrls, parseSizes, shortCount } from "../lib/scale.mjs";
import { runReport } from "./report-fixture.mjs";

const SCRIPT = fileURLToPath(new URL("../scale.mjs", import.meta.url));

/** One scale.mjs run; its single JSON line, parsed. */
async function scale(...argv) {
  const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT, ...argv], {
    encoding: "utf8",
    timeout: 60_000,
  });
  const lines = stdout.trim().split("\n");
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]);
}

const positiveSample = (sample, ops) => {
  expect(sample.ops).toBe(ops);
  expect(sample.opsPerSec).toBeGreaterThan(0);
  expect(sample.p50).toBeGreaterThan(0);
  expect(sample.p99).toBeGreaterThanOrEqual(sample.p50);
};

describe("scale.mjs growth", () => {
  it("measures each size on the records present, and cleans up", { timeout: 60_000 }, async () => {
    const run = await scale("growth", "--url", "memory://", "--sizes", "2000,5000");
    expect(run.error).toBeUndefined();
    expect(run.kind).toBe("growth");
    expect(run.backendName).toBe("memory");
    expect(run.nativeExpiry).toBe(false);
    expect(run.namespace).toMatch(/^bench_scale_[0-9a-f]{8}$/);
    expect(run.idsMiB).toBe(0);
    expect(run.steps.map((s) => s.records)).toEqual([2000, 5000]);
    expect(run.steps.map((s) => s.store.ops)).toEqual([2000, 3000]);
    for (const step of run.steps) {
      expect(step.store.opsPerSec).toBeGreaterThan(0);
      expect(step.store.opsPerSec).toBeCloseTo(step.store.ops / step.store.seconds, 6);
      positiveSample(step.get, 2000);
      positiveSample(step.getMany, 200);
      expect(step.rssMiB).toBeGreaterThan(0);
      expect(step.peakRssMiB).toBeGreaterThanOrEqual(step.rssMiB);
      expect(step.elapsedSeconds).toBeGreaterThanOrEqual(step.loadSeconds);
    }
    const [a, b] = run.steps;
    expect(b.peakRssMiB).toBeGreaterThanOrEqual(a.peakRssMiB);
    expect(b.loadSeconds).toBeCloseTo(a.loadSeconds + b.store.seconds, 6);
    expect(run.loadSeconds).toBe(b.loadSeconds);
    expect(run.peakRssMiB).toBeGreaterThanOrEqual(b.peakRssMiB);
  });

  it("refuses sizes that do not ascend", async () => {
    await expect(scale("growth", "--sizes", "5000,2000")).rejects.toThrow(/sizes must ascend/);
  });
});

describe("scale.mjs cleanup", () => {
  it("removes every expired record on memory://", { timeout: 60_000 }, async () => {
    const run = await scale("cleanup", "--url", "memory://", "--records", "2000");
    expect(run).toMatchObject({
      kind: "cleanup",
      nativeExpiry: false,
      records: 2000,
      removed: 2000,
      sampled: 100,
      storedBefore: 100, // still stored, though already expired: the sample sees real records
      leftAfter: 0,
      storedAfter: 0,
    });
    expect(run.peakRssMiB).toBeGreaterThan(0);
    expect(run.cleanupSeconds).toBeGreaterThanOrEqual(0);
  });

  it("reports its own peak RSS, not its parent's", { timeout: 60_000 }, async () => {
    // Linux keeps ru_maxrss across exec: a child of a 400 MiB parent read 400 MiB as its peak.
    const ballast = Buffer.alloc(400 * 1024 * 1024, 1);
    const run = await scale("cleanup", "--url", "memory://", "--records", "2000");
    expect(ballast[0]).toBe(1);
    expect(run.peakRssMiB).toBeLessThan(300);
  });
});

describe("scale helpers", () => {
  it("parses sizes", () => {
    expect(parseSizes("10000, 100000,1000000")).toEqual([10000, 100000, 1000000]);
    expect(() => parseSizes("")).toThrow();
    expect(() => parseSizes("10,10")).toThrow(/ascend/);
    expect(() => parseSizes("1e3,x")).toThrow(/whole number/);
    expect(() => parseSizes("0")).toThrow(/whole number/);
  });

  it("parses name=url lists, commas inside a URL included", () => {
    expect(
      parseNamedUrls(
        "mongo=mongodb://a:1,b:2/db?replicaSet=rs&w=majority,consul=consul://127.0.0.1:8500",
      ),
    ).toEqual([
      { name: "mongo", url: "mongodb://a:1,b:2/db?replicaSet=rs&w=majority" },
      { name: "consul", url: "consul://127.0.0.1:8500" },
    ]);
    expect(parseNamedUrls(undefined)).toEqual([]);
    expect(() => parseNamedUrls("mongodb://a:1")).toThrow(/name=url/);
    expect(() => parseNamedUrls("mongo=localhost")).toThrow(/name=url/);
  });

  it("writes counts short", () => {
    expect([500, 2000, 2500, 10_000, 1_000_000, 1_500_000].map(shortCount)).toEqual([
      "500",
      "2k",
      "2.5k",
      "10k",
      "1M",
      "1.5M",
    ]);
  });

  it("takes ratios of the last step to the first", () => {
    const r = growthRatios([
      { records: 10, store: { opsPerSec: 100 }, get: { opsPerSec: 50 }, rssMiB: 10 },
      { records: 20, store: { opsPerSec: 80 }, get: { opsPerSec: 100 }, rssMiB: 25 },
    ]);
    expect(r).toMatchObject({ from: 10, to: 20, store: 0.8, get: 2, rss: 2.5 });
    expect(r.getMany).toBeUndefined();
  });
});

const sample = (opsPerSec, p50, p99) => ({ opsPerSec, p50, p99, ops: 1 });
const step = (records, store, get, getMany, rssMiB, peakRssMiB) => ({
  records,
  store: { ops: records, seconds: 1, opsPerSec: store },
  get: sample(get, 0.5, 2),
  getMany: sample(getMany, 3, 9),
  rssMiB,
  peakRssMiB,
});
const report = runReport({
  scale: [
    {
      backend: "memory",
      kind: "cleanup",
      nativeExpiry: false,
      records: 100000,
      writeSeconds: 1,
      cleanupSeconds: 0.1,
      removed: 100000,
      sampled: 100,
      storedBefore: 100,
      leftAfter: 0,
      storedAfter: 0,
      rssBeforeMiB: 200,
      peakRssMiB: 210,
    },
    {
      backend: "cassandra",
      kind: "cleanup",
      nativeExpiry: true,
      records: 100000,
      writeSeconds: 30,
      cleanupSeconds: 0.05,
      removed: 0,
      sampled: 100,
      storedBefore: 100,
      leftAfter: 0,
      storedAfter: 3,
      rssBeforeMiB: 90,
      peakRssMiB: 120,
    },
    {
      backend: "memory",
      kind: "growth",
      backendName: "memory",
      loadSeconds: 40,
      seconds: 45,
      steps: [
        step(10_000, 100_000, 200_000, 3000, 80, 85),
        step(100_000, 90_000, 180_000, 2700, 200, 210),
        step(1_000_000, 80_000, 150_000, 2100, 1200, 1300),
      ],
    },
    { backend: "mongo", kind: "growth", error: "connect ECONNREFUSED" },
  ],
});

describe("growth in RESULTS.md", () => {
  const md = renderResults(report);
  const scaleText = md.slice(md.indexOf("## Scale"));

  it("renders one table per backend, a row per size", () => {
    expect(scaleText).toContain(
      [
        "### Growth: memory",
        "",
        "| records | store ops/s | get ops/s | get p50/p99 ms | getMany ops/s | getMany p50/p99 ms | RSS MiB | peak RSS MiB |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
        "| 10,000 | 100000 | 200000 | 0.5 / 2.0 | 3000 | 3.0 / 9.0 | 80 | 85 |",
        "| 100,000 | 90000 | 180000 | 0.5 / 2.0 | 2700 | 3.0 / 9.0 | 200 | 210 |",
        "| 1,000,000 | 80000 | 150000 | 0.5 / 2.0 | 2100 | 3.0 / 9.0 | 1200 | 1300 |",
        "",
      ].join("\n"),
    );
    expect(scaleText).toContain("### Growth: mongo\n\nError: connect ECONNREFUSED.");
  });

  it("says how each figure grew from the first size to the last", () => {
    expect(scaleText).toContain(
      "From 10k to 1M records: store at 1M is 0.80× its rate at 10k, get 0.75×, getMany 0.70×; RSS 1200 MiB against 80 MiB (15.00×), peak 1300 MiB against 85 MiB (15.29×).",
    );
    expect(scaleText).toContain("Loaded in 40.0 s, 45.0 s with the reads.");
  });

  it("shows cleanup with native expiry and what is left", () => {
    expect(scaleText).toContain(
      "- cleanup, memory: 100000 expired records written in 1.0 s; one `cleanup()` removed 100000 in 0.10 s; RSS before cleanup 200 MiB, peak 210 MiB. Native expiry: no. After it, 0 of 100 sampled ids still read as a result, 0 still stored (100 before): the data is gone.",
    );
    expect(scaleText).toMatch(
      /- cleanup, cassandra: .* removed 0 .* Native expiry: yes .* 0 of 100 sampled ids still read as a result, 3 still stored \(100 before\): the data is not all gone\./,
    );
  });

  it("keeps the bullets above the growth tables", () => {
    expect(scaleText.indexOf("- cleanup, cassandra")).toBeLessThan(
      scaleText.indexOf("### Growth: memory"),
    );
  });
});
