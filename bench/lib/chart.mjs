// bench/RESULTS.md's charts: one SVG per backend, each kind's ops/s as a horizontal bar, so the
// columns of a table can be compared at a glance. Plain string building and no dependencies: the
// charts are regenerated from the run's report by every render (bench/render.mjs, bench/all.mjs).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Bar order within a group, and one colour per kind (Okabe–Ito: colour-blind safe). */
export const CHART_KINDS = [
  { kind: "ours", label: "ours", colour: "#0072B2" },
  { kind: "guarded", label: "guarded", colour: "#E69F00" },
  { kind: "raw", label: "raw", colour: "#8C8C8C" },
  { kind: "celery", label: "Celery", colour: "#009E73" },
];

const WIDTH = 900;
const LEFT = 150; // the op and in-flight labels
const RIGHT = 70; // room for the value printed after a full-length bar
const TOP = 86; // title, legend, and the top axis labels
const BOTTOM = 34; // the bottom axis labels
const BAR = 11;
const PITCH = 14; // one bar and the gap under it
const GROUP_GAP = 6; // between @1 and @64 of one op
const OP_GAP = 18; // between ops, with a rule in the middle
const PLOT = WIDTH - LEFT - RIGHT;

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };
export const escapeXml = (text) => String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);

/** The chart's file name for a backend; RESULTS.md's image links and writeCharts share it. */
export const chartFile = (backend) => `${String(backend).replace(/[^\w.-]/g, "_")}.svg`;

/** 1, 10, 100, 1k, …; below 1 as decimals (a sample slower than 1 op/s is still drawn). */
const decadeLabel = (exp) =>
  exp < 0 ? String(10 ** exp) : `${10 ** (exp % 3)}${["", "k", "M", "G"][Math.floor(exp / 3)]}`;
const valueLabel = (v) => (v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1));

/**
 * Log10 scale over whole decades: values span 10 to 10⁵ ops/s across ops, and a linear axis would
 * flatten every slow op to a sliver. The lowest decade sits strictly below the smallest value so
 * that no bar has zero length.
 */
function logScale(values) {
  const positive = values.filter((v) => v > 0);
  const lo = positive.length ? Math.ceil(Math.log10(Math.min(...positive))) - 1 : 0;
  const hi = positive.length ? Math.max(Math.ceil(Math.log10(Math.max(...positive))), lo + 1) : 1;
  const length = (v) => (v > 0 ? Math.max(0, ((Math.log10(v) - lo) / (hi - lo)) * PLOT) : 0);
  return { lo, hi, length };
}

/** The run's kinds for this backend, in chart order: those with a sample or an error somewhere. */
const kindsOf = (rows) =>
  CHART_KINDS.filter(({ kind }) =>
    rows.some((r) => r[kind]?.opsPerSec !== undefined || r[kind]?.error),
  );

/** Rows grouped by op, in the run's order: [[op, [row@1, row@64]], …]. */
function byOp(rows) {
  const ops = new Map();
  for (const row of rows) ops.set(row.op, [...(ops.get(row.op) ?? []), row]);
  return [...ops];
}

const text = (x, y, body, attrs = "") =>
  `<text x="${x}" y="${y}"${attrs ? ` ${attrs}` : ""}>${escapeXml(body)}</text>`;

/** One backend's chart as a standalone SVG document. */
export function backendChart(result) {
  const rows = result.rows ?? [];
  const kinds = kindsOf(rows);
  const scale = logScale(rows.flatMap((r) => kinds.map(({ kind }) => r[kind]?.opsPerSec ?? 0)));
  // Every group keeps a slot per kind, so a kind missing from one row leaves a gap rather than
  // shifting the others out of their colour's position.
  const groupHeight = Math.max(kinds.length, 1) * PITCH;
  const ops = byOp(rows);
  const body = [];
  let y = TOP;
  for (const [i, [op, opRows]] of ops.entries()) {
    if (i > 0) {
      body.push(
        `<line x1="8" x2="${WIDTH - 8}" y1="${y - OP_GAP / 2}" y2="${y - OP_GAP / 2}" stroke="#ddd"/>`,
      );
    }
    const opHeight = opRows.length * groupHeight + (opRows.length - 1) * GROUP_GAP;
    body.push(text(12, y + opHeight / 2 + 5, op, 'font-size="13" font-weight="bold"'));
    for (const row of opRows) {
      body.push(
        text(
          LEFT - 8,
          y + groupHeight / 2 + 4,
          `${row.width} in flight`,
          'font-size="11" text-anchor="end" fill="#555"',
        ),
      );
      for (const [slot, { kind, label, colour }] of kinds.entries()) {
        const sample = row[kind];
        const top = y + slot * PITCH;
        const mid = top + BAR / 2 + 4;
        if (sample?.opsPerSec !== undefined) {
          const length = scale.length(sample.opsPerSec);
          const value = valueLabel(sample.opsPerSec);
          body.push(
            `<rect class="bar" data-kind="${kind}" data-op="${escapeXml(op)}" data-width="${row.width}" x="${LEFT}" y="${top}" width="${length.toFixed(2)}" height="${BAR}" fill="${colour}"><title>${escapeXml(`${label} ${op} @${row.width}: ${value} ops/s`)}</title></rect>`,
            text((LEFT + length + 4).toFixed(2), mid, value, 'font-size="10" fill="#333"'),
          );
        } else if (sample?.error) {
          body.push(
            `<text class="error" data-kind="${kind}" x="${LEFT + 4}" y="${mid}" font-size="10" font-style="italic" fill="#B00020">error<title>${escapeXml(`${label} ${op} @${row.width}: ${sample.error}`)}</title></text>`,
          );
        }
      }
      y += groupHeight + GROUP_GAP;
    }
    y += OP_GAP - GROUP_GAP;
  }
  const plotBottom = y - OP_GAP + 4;
  const height = plotBottom + BOTTOM;
  // Gridlines behind the bars, one per decade, labelled above and below the plot.
  const grid = [];
  for (let exp = scale.lo; exp <= scale.hi; exp++) {
    const x = (LEFT + scale.length(10 ** exp)).toFixed(2);
    const stroke = exp === scale.lo ? "#888" : "#ddd";
    grid.push(
      `<line x1="${x}" x2="${x}" y1="${TOP - 6}" y2="${plotBottom}" stroke="${stroke}"/>`,
      text(x, TOP - 10, decadeLabel(exp), 'font-size="11" text-anchor="middle" fill="#555"'),
      text(x, plotBottom + 14, decadeLabel(exp), 'font-size="11" text-anchor="middle" fill="#555"'),
    );
  }
  const legend = kinds.map(
    ({ label, colour }, i) =>
      `<rect x="${LEFT + i * 110}" y="42" width="12" height="12" fill="${colour}"/>${text(LEFT + i * 110 + 17, 52, label, 'font-size="12"')}`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    // What a screen reader announces for the whole chart (the image line's alt text says the same).
    `<title>${escapeXml(`${result.backend}: ours, guarded, raw and Celery, ops/s at 1 and 64 in flight`)}</title>`,
    // An opaque background: the chart stays readable on a dark-mode markdown page.
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(
      12,
      24,
      `${result.backend} — ops/s, log scale (higher is better)`,
      'font-size="16" font-weight="bold"',
    ),
    ...legend,
    text(12, plotBottom + 28, "ops/s", 'font-size="11" fill="#555"'),
    ...grid,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

/** Writes `<dir>/<backend>.svg` for each backend with rows; returns the file names, relative to `dir`. */
export function writeCharts(report, dir) {
  const files = [];
  for (const result of report.results ?? []) {
    if (!result.rows?.length) continue;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, chartFile(result.backend)), backendChart(result));
    files.push(chartFile(result.backend));
  }
  return files;
}
