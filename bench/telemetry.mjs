#!/usr/bin/env node
// What telemetry costs, on memory:// by default (the store with the least work of its own, so any
// cost shows) or on `--url`:
// store (markSuccess) and get (getMeta) in four set-ups, sampled in alternating rounds:
//
//   off        `telemetry: false`: what a program without @opentelemetry/api runs (core wraps
//              nothing in either case: the same early return in instrumentStore)
//   api        the API installed, no SDK registered (a library's usual state): no-op spans
//   sdk        an SDK registered as applications do (tracer and meter providers, the async-hooks
//              context manager), spans batched to an in-memory exporter, metrics to a manual reader
//   sdk-unsampled  the same, with a sampler that records nothing (a 0 % sampling ratio)
//
//   node bench/telemetry.mjs [--url memory://] [--ops 20000] [--rounds 5] [--concurrency 1,64] [--json out.json]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as api from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { BENCH_PAYLOAD } from "@resultstore/cli";
import { createStore } from "@resultstore/core";
import { alternate, measure, ratio } from "./lib/measure.mjs";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: "memory://" },
    ops: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "1,64" },
    json: { type: "string" },
  },
});
const count = Number(args.ops);
const rounds = Number(args.rounds);
const widths = args.concurrency.split(",").map(Number);

/** A reader that only collects when asked; the bench asks after each sample, as an export would. */
class ManualReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

const exporter = new InMemorySpanExporter();
function sdk(sampler) {
  return {
    tracerProvider: new BasicTracerProvider({
      sampler,
      // Batched, as applications export: no span is dropped within a sample.
      spanProcessors: [
        new BatchSpanProcessor(exporter, { maxQueueSize: 200_000, maxExportBatchSize: 10_000 }),
      ],
    }),
    meterProvider: new MeterProvider({ readers: [new ManualReader()] }),
  };
}

/**
 * The SDK targets pass their providers to their store instead of registering them globally: the
 * API's global proxy tracer keeps the first delegate it finds, so a global provider registered for
 * one target's samples would go on recording the "api" target's spans after it was unregistered.
 * The context manager is registered for the SDK targets' samples only, as an SDK setup would.
 */
async function target(name, telemetry) {
  const store = await createStore(args.url, {
    backendOptions: { namespace: `bench_otel_${name.replace(/\W/g, "")}_${process.pid}` },
    telemetry,
  });
  const sdkSetUp = Boolean(telemetry?.tracerProvider);
  return {
    name,
    store,
    enter() {
      if (sdkSetUp)
        api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    },
    async leave() {
      if (!sdkSetUp) return;
      await telemetry.meterProvider.forceFlush();
      await telemetry.tracerProvider.forceFlush();
      exporter.reset();
      api.context.disable();
    },
  };
}

const targets = [
  await target("off", false),
  await target("api", { api }),
  await target("sdk", { api, ...sdk(undefined) }),
  await target("sdk-unsampled", { api, ...sdk(new AlwaysOffSampler()) }),
];

let serial = 0;
const rows = [];
for (const op of ["store", "get"]) {
  for (const width of widths) {
    const all = targets.map(() => []);
    const results = await alternate(targets, rounds, async (t) => {
      const ids = Array.from({ length: count }, () => `bench-${serial++}`);
      const { store } = t;
      t.enter();
      try {
        if (op === "get")
          await measure((i) => store.markSuccess(ids[i], BENCH_PAYLOAD), { count, width: 64 });
        const run =
          op === "store"
            ? (i) => store.markSuccess(ids[i], BENCH_PAYLOAD)
            : (i) => store.getMeta(ids[i]);
        const sample = await measure(run, { count, width });
        all[targets.indexOf(t)].push(sample);
        return sample;
      } finally {
        await t.leave();
        // memory:// keeps every record in this heap: start each sample from an empty one, so no
        // target pays for another's garbage.
        if (store.backend.name === "memory") await store.backend.destroy?.();
      }
    });
    // The fastest sample too: on a machine shared with other work it is the least disturbed one.
    const best = all.map((list) => list.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a)));
    rows.push({
      op,
      width,
      results: results.map((r, k) => ({ target: targets[k].name, ...r, best: best[k] })),
    });
  }
}

const fmt = (n) => (n === undefined ? "-" : n >= 100 ? n.toFixed(0) : n.toFixed(2));
console.log(
  `\n${targets[0].store.backend.name}, ${count} ops per sample, median of ${rounds} alternating rounds, node ${process.version}`,
);
const others = targets.slice(1).map((t) => t.name);
console.log(
  `op     conc | median ops/s: ${targets.map((t) => t.name).join(", ")} | ÷ off (median) | ÷ off (best)`,
);
console.log(`             (${others.join(", ")} in each ratio column)`);
for (const { op, width, results } of rows) {
  const rates = results.map((r) => fmt(r.sample?.opsPerSec).padStart(7)).join(" ");
  const ratios = (key) =>
    results
      .slice(1)
      .map((r) => ratio(r[key], results[0][key])?.toFixed(2) ?? "-")
      .join(" ");
  console.log(
    `${op.padEnd(6)} ${String(width).padStart(4)} | ${rates} | ${ratios("sample")} | ${ratios("best")}`,
  );
}
for (const t of targets) {
  await t.store.backend.destroy?.();
  await t.store.close();
}
if (args.json) writeFileSync(args.json, JSON.stringify({ count, rounds, rows }, null, 2));
