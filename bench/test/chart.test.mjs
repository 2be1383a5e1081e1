// RESULTS.md's per-backend bar charts: well-formed SVG, a log10 scale, the kinds in a fixed order,
// errors shown as text, names escaped, and each chart linked under its backend's heading.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { backendChart, writeCharts } from "../lib/chart.mjs";
import { renderResults } from "../lib/report.mjs";
import { runReport } from "./report-fixture.mjs";

const sample = (opsPerSec) => ({ opsPerSec, p50: 1, p99: 2 });

/**
 * A small XML well-formedness check (no parser is installed): tags nest and close, attributes are
 * quoted and unique, and text and attribute values hold no bare `<` or `&`. Returns the root tag.
 */
function checkXml(xml) {
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  const plain = (s, where) => {
    if (/[<&]/.test(s.replace(entity, ""))) throw new Error(`bare < or & in ${where}: ${s}`);
  };
  const stack = [];
  let root;
  let last = 0;
  for (const m of xml.matchAll(/<[^>]*>/g)) {
    plain(xml.slice(last, m.index), "text");
    last = m.index + m[0].length;
    const tag = m[0];
    if (tag.startsWith("<?")) continue;
    const close = /^<\/([\w:-]+)\s*>$/.exec(tag);
    if (close) {
      if (stack.pop() !== close[1]) throw new Error(`mismatched ${tag}`);
      continue;
    }
    const open = /^<([\w:-]+)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>$/.exec(tag);
    if (!open) throw new Error(`malformed tag ${tag}`);
    const names = [...open[2].matchAll(/([\w:-]+)="([^"]*)"/g)].map(([, name, value]) => {
      plain(value, `attribute ${name}`);
      return name;
    });
    if (new Set(names).size !== names.length) throw new Error(`repeated attribute in ${tag}`);
    if (!stack.length && root) throw new Error(`second root ${tag}`);
    root ??= tag;
    if (!open[3]) stack.push(open[1]);
  }
  plain(xml.slice(last), "text");
  if (stack.length) throw new Error(`unclosed ${stack.join(", ")}`);
  return root;
}

/** The chart's bars as attribute objects, in document order. */
const bars = (svg) =>
  [...svg.matchAll(/<rect class="bar"([^>]*)>/g)].map((m) =>
    Object.fromEntries([...m[1].matchAll(/([\w-]+)="([^"]*)"/g)].map(([, k, v]) => [k, v])),
  );

const fullRow = (op, width, base) => ({
  op,
  width,
  celery: sample(base),
  raw: sample(base * 3),
  guarded: sample(base * 2),
  ours: sample(base * 4),
});

const result = {
  backend: "mongo",
  names: { ours: "resultstore", raw: "mongodb driver", guarded: "updateOne", celery: "Celery" },
  rows: [
    fullRow("store", 1, 100),
    fullRow("store", 64, 1000),
    { ...fullRow("lifecycle", 64, 500), celery: { error: "TimeoutError: <abandoned> & gone" } },
    { ...fullRow("get", 1, 50), guarded: { missing: true, name: "x" } },
  ],
};

describe("backendChart", () => {
  it("is a well-formed standalone SVG", () => {
    const svg = backendChart(result);
    const root = checkXml(svg);
    expect(root).toMatch(/^<svg /);
    expect(root).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(root).toMatch(/viewBox="0 0 900 \d+"/);
    expect(root).toContain('font-family="sans-serif"');
    expect(svg).toContain("mongo — ops/s, log scale (higher is better)");
  });

  it("draws lengths on a log10 scale: 10, 100 and 1000 ops/s are evenly spaced", () => {
    const rows = [10, 100, 1000, 10_000].map((v, i) => ({
      op: `op${i}`,
      width: 1,
      ours: sample(v),
    }));
    const lengths = bars(backendChart({ backend: "b", names: {}, rows })).map((b) =>
      Number(b.width),
    );
    expect(lengths[0]).toBeGreaterThan(0);
    expect(lengths[1] - lengths[0]).toBeCloseTo(lengths[2] - lengths[1], 1);
    expect(lengths[2] - lengths[1]).toBeCloseTo(lengths[3] - lengths[2], 1);
  });

  it("labels only the decades the data needs", () => {
    const rows = [{ op: "store", width: 1, ours: sample(15), raw: sample(20_000) }];
    const svg = backendChart({ backend: "b", names: {}, rows });
    const labels = [...svg.matchAll(/text-anchor="middle" fill="#555">([^<]*)</g)].map((m) => m[1]);
    expect([...new Set(labels)]).toEqual(["10", "100", "1k", "10k", "100k"]);
  });

  it("shows an error as text without a bar, and a missing kind not at all", () => {
    const svg = backendChart(result);
    const lifecycle = bars(svg).filter((b) => b["data-op"] === "lifecycle");
    expect(lifecycle.map((b) => b["data-kind"])).toEqual(["ours", "guarded", "raw"]);
    expect(svg).toMatch(/<text class="error" data-kind="celery"[^>]*>error</);
    const get = bars(svg).filter((b) => b["data-op"] === "get");
    expect(get.map((b) => b["data-kind"])).toEqual(["ours", "raw", "celery"]);
    expect(svg.match(/class="error"/g)).toHaveLength(1);
  });

  it("orders the kinds ours, guarded, raw, Celery in every group and in the legend", () => {
    const svg = backendChart(result);
    const store = bars(svg).filter((b) => b["data-op"] === "store" && b["data-width"] === "1");
    expect(store.map((b) => b["data-kind"])).toEqual(["ours", "guarded", "raw", "celery"]);
    const ys = store.map((b) => Number(b.y));
    expect(ys).toEqual([...ys].sort((a, b) => a - b));
    const legend = ["ours", "guarded", "raw", "Celery"].map((l) => svg.indexOf(`>${l}</text>`));
    expect(legend.every((i) => i > 0)).toBe(true);
    expect(legend).toEqual([...legend].sort((a, b) => a - b));
  });

  it("escapes text", () => {
    const svg = backendChart({ ...result, backend: 'x<&>"y' });
    checkXml(svg);
    expect(svg).toContain("x&lt;&amp;&gt;&quot;y — ops/s");
    expect(svg).not.toContain("x<&>");
    expect(svg).toContain("TimeoutError: &lt;abandoned&gt; &amp; gone");
  });
});

const report = runReport({
  engines: { mongo: "ferretdb 1.24.0" },
  results: [result, { backend: "consul", skipped: "server not up" }],
});

describe("charts in RESULTS.md", () => {
  it("links each backend's chart right under its heading, none for a skipped backend", () => {
    const md = renderResults(report);
    expect(md).toContain(
      "### mongo — ferretdb 1.24.0\n\n![mongo: ours, guarded, raw and Celery, ops/s](charts/mongo.svg)\n",
    );
    expect(md).not.toContain("charts/consul.svg");
  });

  it("writeCharts writes one SVG per backend with rows", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "charts-")), "charts");
    expect(writeCharts(report, dir)).toEqual(["mongo.svg"]);
    expect(readdirSync(dir)).toEqual(["mongo.svg"]);
    expect(readFileSync(join(dir, "mongo.svg"), "utf8")).toBe(backendChart(result));
  });
});
