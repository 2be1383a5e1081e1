// Scale runs, one per process so that its peak RSS is its own (bench/all.mjs starts them):
//
//   node bench/scale.mjs cleanup --url memory:// --records 100000
//       stores N records that expire after 1 s, waits, then times one cleanup() that removes
//       them all; peak RSS of the process.
//   node bench/scale.mjs rss --url memory:// --ops 1000000 [--map]
//       1M ops on a rotating set of 100k ids (half SUCCESS writes, 4/10 reads, 1/10 incr), RSS
//       sampled every 100k ops; --map runs the same ops on a Map of the same encoded JSON.
// Prints one JSON line.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { createStore } from "@resultstore/core";
import { PAYLOAD } from "./lib/targets.mjs";

const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: "memory://" },
    records: { type: "string", default: "100000" },
    ops: { type: "string", default: "1000000" },
    map: { type: "boolean" },
  },
});
const mib = (bytes) => Math.round(bytes / 1048576);
const peakRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

/** Runs `op(i)` for i < n, 64 in flight. */
async function drive(n, op) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < n) await op(next++);
    }),
  );
}

async function cleanup() {
  const records = Number(args.records);
  const store = await createStore({
    url: args.url,
    expires: 1,
    backendOptions: { namespace: `bench_scale_${randomUUID().slice(0, 8)}` },
  });
  try {
    const prefix = randomUUID();
    const t0 = process.hrtime.bigint();
    await drive(records, (i) => store.markSuccess(`${prefix}-${i}`, PAYLOAD));
    const writeSeconds = seconds(t0);
    await new Promise((r) => setTimeout(r, 1100));
    const rssBeforeMiB = mib(process.memoryUsage().rss);
    const t1 = process.hrtime.bigint();
    const removed = await store.cleanup();
    return {
      records,
      writeSeconds,
      cleanupSeconds: seconds(t1),
      removed,
      rssBeforeMiB,
      peakRssMiB: peakRssMiB(),
    };
  } finally {
    await store.backend.destroy?.();
    await store.close();
  }
}

async function rss() {
  const ops = Number(args.ops);
  const live = 100_000;
  let store;
  let target;
  if (args.map) {
    const tasks = new Map();
    const counters = new Map();
    target = {
      write: async (id) =>
        void tasks.set(
          id,
          JSON.stringify({ status: "SUCCESS", result: PAYLOAD, traceback: null, task_id: id }),
        ),
      read: async (id) => JSON.parse(tasks.get(id) ?? "null"),
      incr: async (key) => counters.set(key, (counters.get(key) ?? 0) + 1),
    };
  } else {
    store = await createStore(args.url);
    target = {
      write: (id) => store.markSuccess(id, PAYLOAD),
      read: (id) => store.getMeta(id),
      incr: (key) => store.incr(key),
    };
  }
  const samples = [];
  const t0 = process.hrtime.bigint();
  const step = ops / 10;
  await drive(ops, async (i) => {
    const id = `task-${i % live}`;
    const kind = i % 10;
    if (kind < 5) await target.write(id);
    else if (kind < 9) await target.read(id);
    else await target.incr(`counter-${i % 1000}`);
    if ((i + 1) % step === 0) samples.push({ ops: i + 1, rssMiB: mib(process.memoryUsage().rss) });
  });
  const total = seconds(t0);
  await store?.close();
  return {
    target: args.map ? "Map of encoded JSON" : "resultstore memory://",
    ops,
    liveRecords: live,
    opsPerSec: ops / total,
    samples,
    peakRssMiB: peakRssMiB(),
  };
}

const kind = positionals[0];
const result = kind === "cleanup" ? await cleanup() : kind === "rss" ? await rss() : null;
if (!result) throw new Error("usage: scale.mjs cleanup|rss [--url …]");
process.stdout.write(`${JSON.stringify(result)}\n`);
