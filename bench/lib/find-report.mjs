// RESULTS.md's "Find at scale" section from bench/find.mjs's JSON lines (one per backend).

export const FIND_HEADING = "## Find at scale";
/** The issue's target: ours at least this fraction of the hand-written query's throughput. */
export const FIND_TARGET = 0.8;

const x = (r) => (r === undefined ? "–" : `${r.toFixed(2)}×`);
const ms = (s) => (s?.p50 === undefined ? "–" : s.p50 >= 100 ? s.p50.toFixed(0) : s.p50.toFixed(1));
const rate = (s) =>
  s?.opsPerSec === undefined
    ? "–"
    : s.opsPerSec >= 100
      ? s.opsPerSec.toFixed(0)
      : s.opsPerSec.toFixed(1);
const mark = (r) => (r === undefined ? "" : r >= FIND_TARGET ? " ✔" : " ✘");
const rowOf = (run, op) => run.rows?.find((row) => row.op === op);

/** One line of the summary table. */
function summaryLine(run) {
  if (run.error)
    return `| ${run.backend} | ${run.records} | error: ${run.error.split("\n")[0]} ||||||||`;
  const cells = ["first", "second", "count"].map((op) => {
    const row = rowOf(run, op);
    if (!row) return ["–", "–"];
    return [
      `${ms(row.ours)} / ${ms(row.native)}`,
      `${x(row.ratio)}${op === "count" ? "" : mark(row.ratio)}`,
    ];
  });
  const write = run.writeCost;
  const writeCells = write?.with
    ? [`${rate(write.with)} / ${rate(write.without)}`, x(write.ratio)]
    : ["–", "–"];
  return `| ${run.backend} | ${run.records.toLocaleString("en")} | ${run.loadSeconds?.toFixed(0) ?? "–"} | ${cells.flat().join(" | ")} | ${writeCells.join(" | ")} |`;
}

/** The detail of one backend: every sample, the write cost, the command and date. */
function detail(run) {
  const lines = [`### ${run.backend}`, ""];
  if (run.error) return [...lines, `Failed: \`${run.error.split("\n")[0]}\``, ""];
  lines.push(
    `${run.records.toLocaleString("en")} records ${run.loadSeconds === undefined ? "loaded by an earlier run (`--namespace`)" : `loaded in ${run.loadSeconds.toFixed(1)} s`}; native: ${run.native}. ` +
      `Pages of ${run.pages.first} and ${run.pages.second}; counts of tenant t7: ${JSON.stringify(run.counts)}.`,
    "",
    "| op | ours ops/s | native ops/s | ours÷native | ours p50 / p99 ms | native p50 / p99 ms |",
    "|---|--:|--:|--:|--:|--:|",
  );
  const p = (s) => (s?.p50 === undefined ? (s?.error ?? "–") : `${ms(s)} / ${s.p99.toFixed(1)}`);
  for (const row of run.rows)
    lines.push(
      `| ${row.op} | ${rate(row.ours)} | ${rate(row.native)} | ${x(row.ratio)} | ${p(row.ours)} | ${p(row.native)} |`,
    );
  lines.push("");
  const write = run.writeCost;
  if (write?.skipped) lines.push(`Write cost: ${write.skipped}.`, "");
  else if (write)
    lines.push(
      `Write cost (markSuccess of new ids, 64 in flight): with the find indexes ${rate(write.with)} ops/s (p50 ${ms(write.with)} ms), ` +
        `without ${rate(write.without)} ops/s (p50 ${ms(write.without)} ms): with ÷ without ${x(write.ratio)}. Without = ${write.how}.`,
      "",
    );
  lines.push(`\`${run.command}\` — ${run.date}`, "");
  return lines;
}

/** The whole section, `intro` (Markdown lines) first. */
export function renderFindSection(runs, intro = []) {
  return [
    FIND_HEADING,
    "",
    ...intro,
    "| backend | records | load s | first page p50 ours / native ms | ours÷native | second page p50 ms | ours÷native | count p50 ms | ours÷native | write ops/s with / without indexes | with÷without |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...runs.map(summaryLine),
    "",
    `✔/✘: ours at least ${FIND_TARGET}× the hand-written query's throughput (issue 24). Ratios are of throughput (calls per second over each sample, so slow calls count, which a p50 hides), one call at a time, the median of alternating rounds; the p50s are that sample's. "before its fix": the same query before this branch's change to that backend's find (commits on find-bench); rows without a load time measured records an earlier run loaded and kept.`,
    "",
    ...runs.flatMap(detail),
  ].join("\n");
}

/** Where the find section of `results` starts and ends, or null when it has none. */
function sectionBounds(results) {
  const start = results.indexOf(`${FIND_HEADING}\n`);
  if (start < 0) return null;
  const next = results.indexOf("\n## ", start + FIND_HEADING.length);
  return { start, end: next < 0 ? results.length : next + 1 };
}

/**
 * `results` (RESULTS.md's text) with its find section replaced by `section`, or the section put
 * before "## Notes" (or at the end) when there is none.
 */
export function withFindSection(results, section) {
  const bounds = sectionBounds(results);
  const notes = results.indexOf("\n## Notes\n");
  const start = bounds?.start ?? (notes < 0 ? results.length : notes + 1);
  const end = bounds?.end ?? start;
  return `${results.slice(0, start)}${section.trimEnd()}\n\n${results.slice(end)}`;
}

/** The find section of `results`, or "" (render.mjs carries it into a regenerated file). */
export function findSectionOf(results) {
  const bounds = sectionBounds(results);
  return bounds ? results.slice(bounds.start, bounds.end) : "";
}
