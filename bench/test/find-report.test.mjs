// RESULTS.md's find section: put in place, replaced, and carried over a regenerated file.
import { describe, expect, it } from "vitest";
import { findSectionOf, renderFindSection, withFindSection } from "../lib/find-report.mjs";

const run = {
  backend: "memory",
  records: 1000,
  loadSeconds: 1.5,
  native: "array walk",
  pages: { first: 100, second: 100 },
  counts: { SUCCESS: 8 },
  rows: [
    {
      op: "first",
      ours: { opsPerSec: 90, p50: 11, p99: 12 },
      native: { opsPerSec: 100, p50: 10, p99: 11 },
      ratio: 0.9,
    },
    {
      op: "count",
      ours: { opsPerSec: 10, p50: 100, p99: 120 },
      native: { opsPerSec: 20, p50: 50, p99: 60 },
      ratio: 0.5,
    },
  ],
  writeCost: { skipped: "none to leave out" },
  command: "node bench/find.mjs",
  date: "2026-12-07T00:00:00.000Z",
};

describe("the find section", () => {
  const section = renderFindSection([run]);
  const results = "# Benchmark results\n\n## Scale\n\n- x\n\n## Notes\n\nnotes\n";

  it("marks the page ratios against the 0.8× target", () => {
    expect(section).toContain(
      "| memory | 1,000 | 2 | 11.0 / 10.0 | 0.90× ✔ | – | – | 100 / 50.0 | 0.50× |",
    );
    expect(section).toContain("Write cost: none to leave out.");
  });

  it("goes before the notes, and replaces itself on the next run", () => {
    const once = withFindSection(results, section);
    expect(once.indexOf("## Find at scale")).toBeLessThan(once.indexOf("## Notes"));
    expect(once.indexOf("## Scale")).toBeLessThan(once.indexOf("## Find at scale"));
    const twice = withFindSection(once, renderFindSection([{ ...run, records: 2000 }]));
    expect(twice.match(/## Find at scale/g)).toHaveLength(1);
    expect(twice).toContain("| memory | 2,000 |");
    expect(twice).toContain("## Notes\n\nnotes\n");
  });

  it("is carried into a regenerated file", () => {
    const once = withFindSection(results, section);
    expect(findSectionOf(results)).toBe("");
    expect(withFindSection(results, findSectionOf(once))).toBe(once);
  });
});
