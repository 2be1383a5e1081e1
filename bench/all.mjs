// `npm run bench -- --all [--json FILE]`: every backend whose shared server is up, plus memory;
// for each op and width, resultstore beside the raw driver's minimal op, the same guarantee
// hand-written with the raw driver, and Celery's own backend (Python, a thread pool of the same
// width). Rounds alternate between the four, and each figure is the median round. Then the scale
// runs (bench/scale.mjs, each in a fresh process for a clean peak RSS): on memory://, cleanup of
// 100k expired records, RSS across 1M ops (and a Map's), and growth to 10k, 100k and 1M records;
// then growth (--scale-sizes) and cleanup (--cleanup-records) on each --scale-urls backend.
// Writes bench/RESULTS.md and one bar chart per backend beside it, in charts/<backend>.svg
// (bench/lib/chart.mjs).
//
//   node bench/run.mjs --all [--json FILE] [--rounds 3] [--seconds 1.5] [--only mongo,consul]
//                            [--ops store,lifecycle] [--sample-timeout 120] [--no-celery] [--no-scale] [--out bench/RESULTS.md]
//                            [--scale-urls name=url,...] [--scale-sizes 10000,100000] [--cleanup-records 100000]
//
// --scale-urls (default none) names the databases the scale runs load, e.g.
// `--scale-urls mongo=mongodb://127.0.0.1:27017/bench,cassandra=cassandra://127.0.0.1:9042`; a
// comma starts a new entry only before `name=`, so a URL may hold a seed list. Each run works in
// a fresh namespace and destroys it. --no-scale skips every scale run, these included.
//
// A sample stops starting calls after --seconds; one still unfinished --sample-timeout seconds
// after it began is abandoned and that target skips the rest of its backend (see `sampleWithin`).
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createStore } from "@resultstore/core";
import { sanitizeUrl } from "@resultstore/core/backend";
import { env as serverEnv, status as serverStatus } from "../scripts/services/cli.mjs";
import { createCeleryTarget } from "./lib/celery.mjs";
import { writeCharts } from "./lib/chart.mjs";
import { dropIdleSockets } from "./lib/clients.mjs";
import { alternate, sampleWithin } from "./lib/measure.mjs";
import { renderResults } from "./lib/report.mjs";
import { parseNamedUrls, parseSizes } from "./lib/scale.mjs";
import {
  guardedTarget,
  OPS,
  ourTarget,
  PREPARED,
  preparedIdsFor,
  preparedSets,
  rawTarget,
} from "./lib/targets.mjs";

const { values: args } = parseArgs({
  options: {
    all: { type: "boolean" },
    json: { type: "string" },
    out: { type: "string", default: fileURLToPath(new URL("RESULTS.md", import.meta.url)) },
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "1" },
    only: { type: "string" },
    ops: { type: "string" },
    "sample-timeout": { type: "string", default: "120" },
    "no-celery": { type: "boolean" },
    "no-scale": { type: "boolean" },
    "scale-urls": { type: "string" },
    "scale-sizes": { type: "string", default: "10000,100000" },
    "cleanup-records": { type: "string", default: "100000" },
  },
});
// Checked before any measuring: a typo here should not cost a whole run.
const ops = args.ops ? args.ops.split(",") : OPS;
const unknownOps = ops.filter((op) => !OPS.includes(op));
if (unknownOps.length) throw new Error(`--ops: unknown ${unknownOps.join(", ")} (known: ${OPS})`);
const scaleUrls = parseNamedUrls(args["scale-urls"]);
const scaleSizes = parseSizes(args["scale-sizes"]).join(",");
const cleanupRecords = Number(args["cleanup-records"]);
if (!Number.isSafeInteger(cleanupRecords) || cleanupRecords <= 0)
  throw new Error(`--cleanup-records: "${args["cleanup-records"]}" is not a whole number > 0`);
const rounds = Number(args.rounds);
const maxSeconds = Number(args.seconds);
/** Seconds a sample may take in all, its in-flight calls included (see `sampleWithin`). */
const sampleTimeout = Number(args["sample-timeout"]);
const DRAIN_SECONDS = 60;
const WIDTHS = [1, 64];
/** Ops issued per sample at most (a sample also stops after `maxSeconds`). */
const COUNT = { 1: 400, 64: 4000 };
/**
 * memory:// runs 10⁴–10⁶ ops/s: 400 ops would be a sample of 1–10 ms, all JIT warm-up and timer
 * noise (the last run's memory ratios swung 2× between neighbouring rows). Its samples are
 * bounded by time like the servers' instead (`--seconds`), with this cap on ops.
 */
const MEMORY_COUNT = 50_000;
const countFor = (backend, width) => (backend.name === "memory" ? MEMORY_COUNT : COUNT[width]);
/** Records each target stores first for refused/get/getMany. */
const PREPARED_IDS = 200;

/** Backend name → the env var with its URL and the raw/guarded module name. */
const BACKENDS = [
  { name: "memory", module: "memory" },
  { name: "mongo", envName: "MONGO", module: "mongo" },
  { name: "mongo-java", envName: "MONGO_JAVA", module: "mongo" },
  { name: "cassandra", envName: "CASSANDRA", module: "cassandra" },
  { name: "dynamodb", envName: "DYNAMODB", module: "dynamodb" },
  { name: "elasticsearch", envName: "ELASTICSEARCH", module: "elasticsearch" },
  // Ours only: the raw and guarded floors and Celery's target are written for Elasticsearch.
  { name: "opensearch", envName: "OPENSEARCH", module: "elasticsearch", oursOnly: true },
  { name: "consul", envName: "CONSUL", module: "consul" },
  { name: "cosmos", envName: "COSMOS", module: "cosmos" },
];

const log = (line) => console.error(`[bench] ${line}`);
/** `text` with every copy of `url` in it masked as core masks URLs (user part, secret queries). */
const hidden = (text, url) => text.split(url).join(sanitizeUrl(url));
const errorText = (error) =>
  String(error?.message ?? error)
    .split("\n")[0]
    .slice(0, 200);

async function setUp(backend, url) {
  const targets = [];
  const failures = {};
  const attempt = async (kind, make) => {
    try {
      targets.push({ kind, ...(await make()) });
    } catch (error) {
      failures[kind] = errorText(error);
      log(`${backend.name}: no ${kind} target: ${failures[kind]}`);
    }
  };
  const namespace = `bench_${randomUUID().replaceAll("-", "").slice(0, 8)}`;
  await attempt("ours", async () => {
    const ca = process.env.RESULTSTORE_COSMOS_CA;
    const backendOptions = {
      namespace,
      ...(backend.name === "cosmos" && ca ? { ca: readFileSync(ca) } : {}),
    };
    const store = await createStore({ url, backendOptions });
    return {
      ...ourTarget(store),
      idle: () => dropIdleSockets(store.backend),
      close: async () => {
        await store.backend.destroy?.();
        await store.close();
      },
    };
  });
  if (backend.oursOnly) return { targets, failures };
  await attempt("raw", async () => {
    const raw = await (await import(`./raw/${backend.module}.mjs`)).createRaw(url);
    return { ...rawTarget(raw), idle: raw.idle, close: () => raw.close?.() };
  });
  await attempt("guarded", async () => {
    const guarded = await (await import(`./guarded/${backend.module}.mjs`)).createGuarded(url);
    return { ...guardedTarget(guarded), idle: guarded.idle, close: () => guarded.close?.() };
  });
  if (backend.name !== "memory" && !args["no-celery"])
    await attempt("celery", () => createCeleryTarget(backend.name, url));
  return { targets, failures };
}

async function benchBackend(backend, url) {
  log(`${backend.name}: ${sanitizeUrl(url)}`);
  const began = Date.now();
  const { targets, failures } = await setUp(backend, url);
  const rows = [];
  try {
    for (const t of targets) {
      const prepared = preparedSets(PREPARED_IDS, () => `bench-p-${randomUUID()}`);
      try {
        await t.prepare([...prepared.refused, ...prepared.reads]);
        t.prepared = prepared;
      } catch (error) {
        t.prepareError = errorText(error);
      }
    }
    for (const op of OPS.filter((o) => ops.includes(o))) {
      for (const width of WIDTHS) {
        const able = targets.filter((t) => t.has(op));
        const results = await alternate(able, rounds, async (t) => {
          if (t.broken) throw new Error(`skipped: ${t.broken}`);
          if (PREPARED.has(op) && !t.prepared) throw new Error(`prepare failed: ${t.prepareError}`);
          const ids = PREPARED.has(op)
            ? preparedIdsFor(t.prepared, op)
            : Array.from({ length: countFor(backend, width) }, () => `bench-${randomUUID()}`);
          const sample = await sampleWithin(
            t,
            `${op} @${width}`,
            () => t.run(op, { ids, count: countFor(backend, width), width, maxSeconds }),
            { seconds: sampleTimeout, drainSeconds: DRAIN_SECONDS, log },
          );
          if (backend.name === "consul") t.idle?.(); // see dropIdleSockets
          return sample;
        });
        const row = { op, width };
        able.forEach((t, i) => {
          row[t.kind] = results[i].sample ?? { error: results[i].error };
        });
        for (const t of targets)
          if (!able.includes(t)) row[t.kind] = { missing: true, name: t.name };
        rows.push(row);
        log(`${backend.name} ${op} @${width}: ${summary(row)}`);
      }
    }
  } finally {
    for (const t of targets) {
      await Promise.resolve(t.close?.()).catch((error) =>
        log(`${backend.name} ${t.kind} close: ${errorText(error)}`),
      );
    }
  }
  const names = Object.fromEntries(targets.map((t) => [t.kind, t.name]));
  const seconds = Math.round((Date.now() - began) / 1000);
  log(`${backend.name}: done in ${seconds} s`);
  return { backend: backend.name, names, failures, rows, seconds };
}

function summary(row) {
  return ["ours", "raw", "guarded", "celery"]
    .filter((k) => row[k])
    .map(
      (k) =>
        `${k} ${row[k].opsPerSec ? row[k].opsPerSec.toFixed(0) : row[k].error ? "error" : "-"}`,
    )
    .join(", ");
}

/**
 * One scale run in a fresh Node process (its own peak RSS). Its stderr is passed on once it ends,
 * and a failure is its thrown error's line; both with any credentials of the URL hidden.
 */
function scale(kind, url, extra = []) {
  const script = fileURLToPath(new URL("scale.mjs", import.meta.url));
  const run = spawnSync(process.execPath, [script, kind, "--url", url, ...extra], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 1 << 20,
  });
  const stderr = run.stderr ?? "";
  if (stderr) process.stderr.write(hidden(stderr, url));
  if (run.status === 0) {
    try {
      return JSON.parse(run.stdout);
    } catch (error) {
      return { error: `unreadable output: ${errorText(error)}` };
    }
  }
  const thrown = stderr.split("\n").find((line) => /^\w*Error\b/.test(line));
  const why = thrown ?? errorText(run.error ?? `exit ${run.status ?? run.signal}`);
  return { error: hidden(why, url).slice(0, 200) };
}

/** The installed version of a driver: the root's node_modules, else the backend package's. */
function packageVersion(name, backendPackage) {
  for (const dir of ["..", `../packages/${backendPackage}`]) {
    try {
      const file = new URL(`${dir}/node_modules/${name}/package.json`, import.meta.url);
      return JSON.parse(readFileSync(file, "utf8")).version;
    } catch {}
  }
  return undefined;
}

function versions() {
  return {
    node: process.version,
    mongodb: packageVersion("mongodb", "backend-mongo"),
    "cassandra-driver": packageVersion("cassandra-driver", "backend-cassandra"),
    "@aws-sdk/client-dynamodb": packageVersion("@aws-sdk/client-dynamodb", "backend-dynamodb"),
    "@elastic/elasticsearch": packageVersion("@elastic/elasticsearch", "backend-elasticsearch"),
    "@azure/cosmos": packageVersion("@azure/cosmos", "backend-cosmos"),
  };
}

/**
 * FerretDB 1.x stalls for good once about 100 operations are in flight against it (its SQLite
 * pool; backend-mongo README), and the server is shared: every client of it here (four targets,
 * Celery's pymongo included) gets `maxPoolSize=16` in the URL, as that README recommends.
 */
function engineSafeUrl(url, engine = "") {
  if (!engine.toLowerCase().startsWith("ferretdb") || /[?&]maxPoolSize=/.test(url)) return url;
  const [base, query] = url.split("?");
  const withPath = /^mongodb(\+srv)?:\/\/[^/]+\//.test(base) ? base : `${base}/`;
  return `${withPath}?${query ? `${query}&` : ""}maxPoolSize=16`;
}

const statuses = await serverStatus();
Object.assign(process.env, await serverEnv()); // URLs and the Cosmos CA of the running servers
const only = args.only ? new Set(args.only.split(",")) : null;
const engines = { memory: "resultstore memory:// (in process)" };
const results = [];
const started = new Date();
for (const backend of BACKENDS) {
  if (only && !only.has(backend.name)) continue;
  const url = backend.envName ? process.env[`RESULTSTORE_${backend.envName}_URL`] : "memory://";
  const up = statuses.find((s) => s.name === backend.name);
  if (!url || (up && up.up !== "up")) {
    log(`${backend.name}: server not up, skipped`);
    results.push({ backend: backend.name, skipped: "server not up" });
    continue;
  }
  if (up) engines[backend.name] = up.engine;
  results.push(await benchBackend(backend, engineSafeUrl(url, up?.engine)));
}

const scaleRuns = [];
if (!args["no-scale"]) {
  log("scale: cleanup of 100k expired records, memory://");
  scaleRuns.push({
    backend: "memory",
    kind: "cleanup",
    ...scale("cleanup", "memory://", ["--records", "100000"]),
  });
  log("scale: RSS across 1M memory-backend ops");
  scaleRuns.push({
    backend: "memory",
    kind: "rss",
    ...scale("rss", "memory://", ["--ops", "1000000"]),
  });
  scaleRuns.push({
    backend: "Map",
    kind: "rss",
    ...scale("rss", "memory://", ["--ops", "1000000", "--map"]),
  });
  log("scale: growth to 10k, 100k and 1M records, memory://");
  scaleRuns.push({
    backend: "memory",
    kind: "growth",
    ...scale("growth", "memory://", ["--sizes", "10000,100000,1000000"]),
  });
  for (const { name, url: given } of scaleUrls) {
    const url = engineSafeUrl(given, statuses.find((s) => s.name === name)?.engine);
    log(`scale: growth to ${scaleSizes} records, ${name}: ${sanitizeUrl(url)}`);
    scaleRuns.push({
      backend: name,
      kind: "growth",
      ...scale("growth", url, ["--sizes", scaleSizes]),
    });
    log(`scale: cleanup of ${cleanupRecords} expired records, ${name}`);
    scaleRuns.push({
      backend: name,
      kind: "cleanup",
      ...scale("cleanup", url, ["--records", String(cleanupRecords)]),
    });
  }
}

const report = {
  command: `npm run bench -- ${publicArgs(process.argv.slice(2)).join(" ")}`.trim(),
  started: started.toISOString(),
  seconds: (Date.now() - started.getTime()) / 1000,
  rounds,
  maxSeconds,
  counts: { ...COUNT, memory: MEMORY_COUNT },
  engines,
  versions: { ...versions(), celery: results.find((r) => r.names?.celery)?.names.celery },
  results,
  scale: scaleRuns,
};
const charts = join(dirname(args.out), "charts");
log(`wrote ${writeCharts(report, charts).length} charts to ${charts}`);
const notesFile = new URL("NOTES.md", import.meta.url);
writeFileSync(
  args.out,
  renderResults(report, existsSync(notesFile) ? readFileSync(notesFile, "utf8") : ""),
);
log(`wrote ${args.out}`);
if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);

/** The command line as RESULTS.md shows it: output files by name only, never a machine's path. */
function publicArgs(args) {
  return args.map((arg, i) => (["--json", "--out"].includes(args[i - 1]) ? basename(arg) : arg));
}
