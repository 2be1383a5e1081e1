#!/usr/bin/env node
// What the guard costs: markSuccess through the default (LWT-guarded) write and through the
// `guardedWrites: false` opt-out, at concurrency 1 and 64, median of 3 rounds. Needs a build.
//   node packages/backend-cassandra/bench/guard-cost.mjs [--url cassandra://127.0.0.1:9042] [--ops 1000]
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { ResultStore } from "@resultstore/core";
import { fromUrl } from "../dist/index.js";

const { values: args } = parseArgs({
  options: {
    url: {
      type: "string",
      default: process.env.RESULTSTORE_CASSANDRA_URL ?? "cassandra://127.0.0.1:9042",
    },
    ops: { type: "string", default: "1000" },
  },
});
const ops = Number(args.ops);
const payload = { rows: Array.from({ length: 10 }, (_, i) => ({ i, name: `row ${i}`, ok: true })) };

async function measure(op, width) {
  let next = 0;
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < ops) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: ops / ((performance.now() - started) / 1000),
    p50: latencies[Math.floor(ops / 2)],
  };
}

const namespace = `guardcost_${randomUUID().slice(0, 8)}`;
const stores = {
  guarded: new ResultStore(fromUrl(args.url, { namespace })),
  unguarded: new ResultStore(fromUrl(args.url, { namespace, guardedWrites: false })),
};
try {
  await stores.guarded.markSuccess("warm-up", 1);
  for (const width of [1, 64]) {
    const samples = { guarded: [], unguarded: [] };
    for (let round = 0; round < 3; round++) {
      for (const [name, store] of Object.entries(stores)) {
        const ids = Array.from({ length: ops }, () => randomUUID());
        samples[name].push(await measure((i) => store.markSuccess(ids[i], payload), width));
      }
    }
    for (const [name, list] of Object.entries(samples)) {
      const median = list.sort((a, b) => a.opsPerSec - b.opsPerSec)[1];
      console.log(
        `store ${name.padEnd(9)} conc ${String(width).padStart(2)}: ${median.opsPerSec.toFixed(0).padStart(6)} ops/s, p50 ${median.p50.toFixed(2)} ms`,
      );
    }
  }
} finally {
  await stores.guarded.backend.destroy();
  await stores.guarded.close();
  await stores.unguarded.close();
}
