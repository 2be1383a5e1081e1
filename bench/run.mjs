#!/usr/bin/env node
// Throughput and latency of store/get/incr through resultstore, beside the raw driver's minimal
// native operation measured in the same run, so the ratio is meaningful on a shared machine.
//
//   node bench/run.mjs [--url memory://] [--raw bench/raw/<backend>.mjs] [--ops 2000]
//                      [--concurrency 1,64] [--rounds 3] [--json out.json]
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { BENCH_PAYLOAD, measure } from "@resultstore/cli";
import { createStore } from "@resultstore/core";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: "memory://" },
    raw: { type: "string" },
    ops: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "1,64" },
    rounds: { type: "string", default: "3" },
    json: { type: "string" },
  },
});
const opsPerRun = Number(args.ops);
const widths = args.concurrency.split(",").map(Number);
const rounds = Number(args.rounds);
const payload = BENCH_PAYLOAD;

function ourTarget(store) {
  return {
    name: "resultstore",
    store: (id) => store.markSuccess(id, payload),
    get: (id) => store.getMeta(id),
    incr: (key) => store.incr(key),
  };
}

/** Median of `rounds` runs, alternating targets so drift in machine load hits both alike. */
async function compare(targets, op, width) {
  const samples = targets.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [t, target] of targets.entries()) {
      const ids = Array.from({ length: opsPerRun }, () => `bench-${randomUUID()}`);
      if (op === "get") await measure((i) => target.store(ids[i]), opsPerRun, 64);
      const key = `bench-counter-${randomUUID()}`;
      const run = {
        store: (i) => target.store(ids[i]),
        get: (i) => target.get(ids[i]),
        incr: () => target.incr(key),
      }[op];
      samples[t].push(await measure(run, opsPerRun, width));
    }
  }
  return samples.map((list) => {
    const byRate = [...list].sort((a, b) => a.opsPerSec - b.opsPerSec);
    return byRate[Math.floor(byRate.length / 2)];
  });
}

const store = await createStore({
  url: args.url,
  backendOptions: { namespace: `bench_${randomUUID().slice(0, 8)}` },
});
const targets = [ourTarget(store)];
let raw;
if (args.raw) {
  const module = await import(resolve(args.raw));
  raw = await module.createRaw(args.url, payload);
  targets.push(raw);
}

const rows = [];
try {
  for (const op of ["store", "get", "incr"]) {
    for (const width of widths) {
      const [ours, theirs] = await compare(targets, op, width);
      rows.push({ op, concurrency: width, ours, raw: theirs });
    }
  }
} finally {
  await store.backend.destroy?.();
  await store.close();
  await raw?.close?.();
}

const fmt = (n) => (n === undefined ? "-" : n >= 100 ? n.toFixed(0) : n.toFixed(2));
console.log(
  `\nbackend ${store.backend.name}, ${opsPerRun} ops per run, median of ${rounds} rounds${raw ? `, raw: ${raw.name}` : ""}`,
);
console.log(
  "op     conc  ours ops/s   p50 ms   p99 ms |  raw ops/s   p50 ms   p99 ms | ours/raw throughput",
);
for (const { op, concurrency, ours, raw: r } of rows) {
  console.log(
    `${op.padEnd(6)} ${String(concurrency).padStart(4)} ${fmt(ours.opsPerSec).padStart(11)} ${fmt(ours.p50).padStart(8)} ${fmt(ours.p99).padStart(8)} |` +
      ` ${fmt(r?.opsPerSec).padStart(10)} ${fmt(r?.p50).padStart(8)} ${fmt(r?.p99).padStart(8)} | ${r ? (ours.opsPerSec / r.opsPerSec).toFixed(2) : "-"}`,
  );
}
if (args.json)
  writeFileSync(
    args.json,
    JSON.stringify({ url: args.url.replace(/\/\/[^@/]*@/, "//***@"), rows }, null, 2),
  );
