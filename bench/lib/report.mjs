// bench/RESULTS.md from one `--all` run: the tables, the targets, the command and the engines.
// Each backend's section links its chart (charts/<backend>.svg, written by chart.mjs's writeCharts).
import { chartFile } from "./chart.mjs";
import { ratio } from "./measure.mjs";
import { growthRatios, shortCount } from "./scale.mjs";

const KINDS = ["ours", "raw", "guarded", "celery"];
const WRITES = new Set(["store", "lifecycle", "refused"]);
const READS = new Set(["get", "getMany"]);

const rate = (s) =>
  s?.opsPerSec !== undefined
    ? s.opsPerSec >= 100
      ? s.opsPerSec.toFixed(0)
      : s.opsPerSec.toFixed(1)
    : s?.error
      ? "error¹"
      : "–";
const x = (r) => (r === undefined ? "–" : `${r.toFixed(2)}×`);
const ms = (s) => (s?.p50 !== undefined ? `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)}` : "–");

/**
 * The targets one row must meet, as [label, ratio, floor]: writes ≥ 0.9× the hand-written guarded
 * op, reads ≥ 0.9× raw, ≥ 5× Celery at 64 in flight and ≥ 1× at 1, memory ≥ 0.5× a Map.
 */
export function targetsFor(backend, row) {
  const checks = [];
  if (backend === "memory") checks.push(["Map", row.raw, 0.5]);
  else if (WRITES.has(row.op)) checks.push(["guarded", row.guarded, 0.9]);
  else if (READS.has(row.op)) checks.push(["raw", row.raw, 0.9]);
  // Celery's errors are Celery's behaviour (its Cosmos backend cannot write a task twice): no target.
  if (row.celery?.opsPerSec) checks.push(["Celery", row.celery, row.width >= 64 ? 5 : 1]);
  // A column this backend was not measured against (OpenSearch has only ours) is no target;
  // one of ours that failed is: its error is listed under the table, and the target is missed.
  return checks
    .filter(([, sample]) => sample && !sample.missing)
    .map(([label, sample, floor]) => {
      const value = ratio(row.ours, sample);
      return { label, value, floor, met: value !== undefined && value >= floor };
    });
}

function backendSection(result, engines) {
  const lines = [`### ${result.backend} — ${engines[result.backend] ?? ""}`, ""];
  if (result.skipped) return [...lines, `Skipped: ${result.skipped}.`, ""];
  if (result.rows?.length)
    lines.push(
      `![${result.backend}: ours, guarded, raw and Celery, ops/s](charts/${chartFile(result.backend)})`,
      "",
    );
  const names = KINDS.filter((k) => result.names[k]).map((k) => `${k} = ${result.names[k]}`);
  const took = result.seconds === undefined ? "" : ` Measured in ${result.seconds} s.`;
  lines.push(`${names.join("; ")}.${took}`, "");
  for (const [kind, why] of Object.entries(result.failures ?? {}))
    lines.push(`No ${kind} column: ${why}`, "");
  lines.push(
    "| op | in flight | ours ops/s | raw ops/s | guarded ops/s | Celery ops/s | ours÷raw | ours÷guarded | ours÷Celery | ours p50 / p99 ms | targets |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
  );
  const errors = [];
  for (const row of result.rows) {
    for (const k of KINDS)
      if (row[k]?.error) errors.push(`${k} ${row.op} @${row.width}: ${row[k].error}`);
    const targets = targetsFor(result.backend, row)
      .map((t) => `${t.met ? "✔" : "✘"} ${t.label} ≥${t.floor}`)
      .join(", ");
    lines.push(
      `| ${row.op} | ${row.width} | ${rate(row.ours)} | ${rate(row.raw)} | ${rate(row.guarded)} | ${rate(row.celery)} | ${x(ratio(row.ours, row.raw))} | ${x(ratio(row.ours, row.guarded))} | ${x(ratio(row.ours, row.celery))} | ${ms(row.ours)} | ${targets} |`,
    );
  }
  lines.push("");
  if (errors.length) lines.push("¹ Errors:", "", ...errors.map((e) => `- ${e}`), "");
  return lines;
}

const isGrowth = (run) => run.kind === "growth" || Array.isArray(run.steps);
const count = (n) => n.toLocaleString("en");

function cleanupLine(run) {
  const expiry =
    run.nativeExpiry === undefined
      ? ""
      : run.nativeExpiry
        ? " Native expiry: yes (the database deletes expired records itself; `cleanup()` may leave them to it)."
        : " Native expiry: no.";
  // core reads expired records as PENDING whether or not they are still stored: `storedAfter`
  // (the backend's own read) says whether the data is gone, `leftAfter` what callers see.
  const stored =
    run.storedAfter === undefined
      ? ""
      : `, ${run.storedAfter} still stored (${run.storedBefore} before): the data is ${run.storedAfter === 0 ? "gone" : "not all gone"}`;
  const left =
    run.leftAfter === undefined
      ? ""
      : ` After it, ${run.leftAfter} of ${run.sampled} sampled ids still read as a result${stored}.`;
  return `- cleanup, ${run.backend}: ${run.records} expired records written in ${run.writeSeconds.toFixed(1)} s; one \`cleanup()\` removed ${run.removed} in ${run.cleanupSeconds.toFixed(2)} s; RSS before cleanup ${run.rssBeforeMiB} MiB, peak ${run.peakRssMiB} MiB.${expiry}${left}`;
}

/** How each figure moved from the first size to the last, in one sentence. */
function growthSentence(run) {
  const r = growthRatios(run.steps);
  if (!r || run.steps.length < 2) return "One size only: nothing to compare.";
  const [to, from] = [shortCount(r.to), shortCount(r.from)];
  const first = run.steps[0];
  const last = run.steps[run.steps.length - 1];
  return (
    `From ${from} to ${to} records: store at ${to} is ${x(r.store)} its rate at ${from}, ` +
    `get ${x(r.get)}, getMany ${x(r.getMany)}; RSS ${last.rssMiB} MiB against ${first.rssMiB} MiB (${x(r.rss)}), ` +
    `peak ${last.peakRssMiB} MiB against ${first.peakRssMiB} MiB (${x(r.peakRss)}).`
  );
}

function growthTable(run) {
  const lines = [`### Growth: ${run.backend}`, ""];
  if (!run.steps?.length) return [...lines, `Error: ${run.error ?? "no steps"}.`, ""];
  lines.push(
    "| records | store ops/s | get ops/s | get p50/p99 ms | getMany ops/s | getMany p50/p99 ms | RSS MiB | peak RSS MiB |",
    "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...run.steps.map(
      (s) =>
        `| ${count(s.records)} | ${rate(s.store)} | ${rate(s.get)} | ${ms(s.get)} | ${rate(s.getMany)} | ${ms(s.getMany)} | ${s.rssMiB} | ${s.peakRssMiB} |`,
    ),
    "",
  );
  const took = [
    run.loadSeconds === undefined ? "" : ` Loaded in ${run.loadSeconds.toFixed(1)} s`,
    run.seconds === undefined ? "" : `, ${run.seconds.toFixed(1)} s with the reads`,
  ].join("");
  const held =
    run.backendName === "memory"
      ? " memory:// holds the records in the client process: its RSS includes them."
      : "";
  lines.push(`${growthSentence(run)}${took ? `${took}.` : ""}${held}`, "");
  if (run.error) lines.push(`Stopped: ${run.error}.`, "");
  return lines;
}

function scaleSection(runs) {
  if (!runs.length) return [];
  const lines = ["## Scale", ""];
  for (const run of runs) {
    if (isGrowth(run)) continue;
    if (run.error)
      lines.push(`- ${run.kind ? `${run.kind}, ` : ""}${run.backend}: error: ${run.error}`);
    else if (run.cleanupSeconds !== undefined) lines.push(cleanupLine(run));
    else
      lines.push(
        `- ${run.ops} ops, ${run.target} (${run.liveRecords} live ids): ${run.opsPerSec.toFixed(0)} ops/s; RSS MiB every ${run.ops / 10} ops: ${run.samples.map((s) => s.rssMiB).join(", ")}; peak ${run.peakRssMiB} MiB.`,
      );
  }
  const growth = runs.filter(isGrowth);
  if (growth.length) {
    if (lines.length > 2) lines.push("");
    const reads = growth.find((r) => r.reads)?.reads;
    const get = reads?.get ?? { calls: 2000, inFlight: 64 };
    const many = reads?.getMany ?? { calls: 200, ids: 100, inFlight: 8 };
    lines.push(
      `Growth (\`bench/scale.mjs growth\`, one process per backend): SUCCESS records loaded cumulatively, ${growth.find((r) => r.loadInFlight)?.loadInFlight ?? 64} in flight; at each size, on the records present: store = the ops/s of the load from the previous size; get = ${get.calls} \`getMeta\` of random present ids, ${get.inFlight} in flight; getMany = ${many.calls} \`getMany\` of ${many.ids} random present ids, ${many.inFlight} in flight (ops/s are calls/s). The reads start after an untimed warm-up; the first size's store rate also times the client's own warm-up (JIT, first connections). RSS is the client process's, now and its peak so far; ids come from a counter, so the client keeps no id list.`,
      "",
    );
    for (const run of growth) lines.push(...growthTable(run));
    return lines;
  }
  return [...lines, ""];
}

function targetSummary(results) {
  const misses = [];
  let met = 0;
  for (const result of results) {
    for (const row of result.rows ?? []) {
      for (const t of targetsFor(result.backend, row)) {
        if (t.met) met++;
        else
          misses.push(
            `${result.backend} ${row.op} @${row.width}: ours ÷ ${t.label} ${x(t.value)} (target ≥ ${t.floor}×)`,
          );
      }
    }
  }
  return [
    "## Targets",
    "",
    `${met} met, ${misses.length} missed.`,
    "",
    ...(misses.length ? ["Missed:", "", ...misses.map((m) => `- ${m}`), ""] : []),
  ];
}

/** The whole RESULTS.md; `notes` (markdown) is appended as the closing analysis. */
export function renderResults(report, notes = "") {
  const lines = [
    "# Benchmark results",
    "",
    "Generated by `bench/all.mjs`; do not edit by hand (the closing notes come from `bench/NOTES.md`).",
    "",
    "> **Only the ratios mean anything.** The machine is shared (2 cores, other builds and tests",
    "> running, the database servers on the same host), so absolute ops/s move from run to run.",
    "> Every ratio compares columns measured side by side in one run: each round runs each target",
    "> once, in an order that rotates every round, and each figure is the median of the rounds.",
    "",
    `- Command: \`${report.command}\``,
    `- Run: ${report.started}, ${Math.round(report.seconds)} s; ${report.rounds} rounds; a sample stops after ${report.counts[1]} ops at 1 in flight, ${report.counts[64]} at 64${report.counts.memory ? ` (${report.counts.memory} on memory://)` : ""}, or ${report.maxSeconds} s.`,
    `- Engines: ${Object.entries(report.engines)
      .map(([k, v]) => `${k} = ${v}`)
      .join("; ")}.`,
    `- Clients: ${Object.entries(report.versions)
      .filter(([, v]) => v)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}.`,
    "",
    "Columns: **ours** = resultstore's public API; **raw** = the driver's minimal native op (an",
    "unguarded write, a plain read, the batch read, the native increment; `bench/raw/`); **guarded** =",
    "the same guarantee as ours (state rules + metadata merge, atomic on the server) hand-written with",
    "the raw driver (`bench/guarded/`); **Celery** = Celery's own backend for that database, one",
    "Python process, a thread pool as wide as our in-flight count (`bench/celery_bench.py`).",
    "Ops: store = SUCCESS of a new id; lifecycle = QUEUED with metadata → STARTED → SUCCESS (one op is",
    "three writes); refused = a late STARTED on a SUCCESS id (ours and guarded check it is refused;",
    "Celery's Mongo and Cassandra backends have no guard and overwrite); get; getMany = 100 ids in one",
    "call; incr. A payload of 10 small rows.",
    "",
    ...targetSummary(report.results),
    "## Per backend",
    "",
    ...report.results.flatMap((r) => backendSection(r, report.engines)),
    ...scaleSection(report.scale),
  ];
  if (notes.trim()) lines.push("## Notes", "", notes.trim(), "");
  return `${lines.join("\n")}\n`;
}
