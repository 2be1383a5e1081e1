// `node bench/render.mjs RUN.json [--out bench/RESULTS.md]`: RESULTS.md again from the `--json`
// file of an `--all` run, with the current bench/NOTES.md, so the closing notes can be written
// after the run without measuring again. The figures are the run's, unchanged. The per-backend
// bar charts are regenerated with it, into charts/ beside the --out file (bench/lib/chart.mjs).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeCharts } from "./lib/chart.mjs";
import { findSectionOf, withFindSection } from "./lib/find-report.mjs";
import { renderResults } from "./lib/report.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: "string", default: fileURLToPath(new URL("RESULTS.md", import.meta.url)) },
  },
});
if (positionals.length !== 1) {
  console.error("usage: node bench/render.mjs RUN.json [--out bench/RESULTS.md]");
  process.exit(2);
}
const report = JSON.parse(readFileSync(positionals[0], "utf8"));
const notesFile = new URL("NOTES.md", import.meta.url);
const notes = existsSync(notesFile) ? readFileSync(notesFile, "utf8") : "";
// The find section comes from other runs (bench/find-render.mjs): it is kept as it is.
const find = existsSync(values.out) ? findSectionOf(readFileSync(values.out, "utf8")) : "";
const charts = join(dirname(values.out), "charts");
console.error(`[bench] wrote ${writeCharts(report, charts).length} charts to ${charts}`);
const rendered = renderResults(report, notes);
writeFileSync(values.out, find ? withFindSection(rendered, find) : rendered);
console.error(`[bench] wrote ${values.out}`);
