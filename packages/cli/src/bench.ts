/**
 * `resultstore bench --url URL`: store, get and incr throughput and latency through resultstore
 * on your server, in a namespace of its own that is dropped afterwards. Figures on a shared
 * machine are noise; compare runs made side by side (the repository's bench/ adds the raw
 * driver's numbers beside ours).
 */
import { randomUUID } from "node:crypto";
import type { ResultStore } from "@resultstore/core";
import { type Command, intFlag, requireUrl, UsageError } from "./command.js";
import type { CliIo } from "./io.js";
import { type Progress, progressSink, startProgress } from "./progress.js";
import { displayUrl } from "./secrets.js";
import { type StoreChoice, withScratchStore } from "./store.js";
import { renderTable } from "./table.js";

/** Throughput and latency of one measured run. */
export interface Measurement {
  opsPerSec: number;
  /** Median latency, ms. */
  p50: number;
  /** 99th-percentile latency, ms. */
  p99: number;
}

/** Runs `op(i)` for i in [0, count) with `width` calls in flight. */
export async function measure(
  op: (i: number) => Promise<unknown>,
  count: number,
  width: number,
): Promise<Measurement> {
  const latencies: number[] = new Array(count);
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = process.hrtime.bigint();
        await op(i);
        latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(count - 1, Math.floor(p * count))] ?? 0;
  return { opsPerSec: count / seconds, p50: pct(0.5), p99: pct(0.99) };
}

/** The payload every `store` operation writes: a small result of ten rows. */
export const BENCH_PAYLOAD = {
  rows: Array.from({ length: 10 }, (_, i) => ({ i, name: `row ${i}`, ok: true })),
};

/** One row of the bench table. */
export interface BenchRow extends Measurement {
  op: "store" | "get" | "incr";
  concurrency: number;
}

/**
 * Measures store (markSuccess), get (getMeta) and incr on `store` at each concurrency; `progress`
 * (optional) counts every operation and names the row being measured.
 */
export async function benchStore(
  store: ResultStore,
  ops: number,
  concurrencies: readonly number[],
  progress?: Progress,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const counted =
    (op: (i: number) => Promise<unknown>) =>
    async (i: number): Promise<void> => {
      await op(i);
      progress?.tick();
    };
  for (const concurrency of concurrencies) {
    const ids = Array.from({ length: ops }, () => `bench-${randomUUID()}`);
    const counter = `bench-counter-${randomUUID()}`;
    const ops_: [BenchRow["op"], (i: number) => Promise<unknown>][] = [
      ["store", (i) => store.markSuccess(ids[i] as string, BENCH_PAYLOAD)],
      ["get", (i) => store.getMeta(ids[i] as string)],
      ["incr", () => store.incr(counter)],
    ];
    for (const [op, call] of ops_) {
      progress?.status(`${op} at concurrency ${concurrency}`);
      rows.push({ op, concurrency, ...(await measure(counted(call), ops, concurrency)) });
    }
  }
  return rows;
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2));

/**
 * Benchmarks `url` in a scratch namespace and prints the table, or with `json` one JSON object
 * (`{ url, ops, rows }`). A terminal on stderr shows operations done, their rate and the row.
 */
export async function runBench(
  url: string,
  options: { ops: number; concurrencies: readonly number[]; json?: boolean },
  io: CliIo,
  choice: StoreChoice = {},
): Promise<BenchRow[]> {
  return withScratchStore(url, "bench", choice, async (store) => {
    if (!options.json) io.err(`bench on ${displayUrl(url)}: ${options.ops} operations per row…`);
    const progress = startProgress(progressSink(io), {
      label: "bench",
      unit: "ops",
      total: options.ops * 3 * options.concurrencies.length,
    });
    let rows: BenchRow[];
    try {
      rows = await benchStore(store, options.ops, options.concurrencies, progress);
    } finally {
      progress.stop();
    }
    if (options.json) {
      io.out(JSON.stringify({ url: displayUrl(url), ops: options.ops, rows }));
      return rows;
    }
    io.out(
      renderTable(
        ["op", "concurrency", "ops/s", "p50 ms", "p99 ms"],
        rows.map((r) => [r.op, String(r.concurrency), fmt(r.opsPerSec), fmt(r.p50), fmt(r.p99)]),
      ),
    );
    return rows;
  });
}

/** `resultstore bench` */
export const benchCommand: Command = {
  name: "bench",
  summary: "measure store, get and incr throughput and latency on your server",
  usage: "resultstore bench --url URL [--ops N] [--concurrency 1,64] [--json]",
  help: [
    "  --url URL          the store to measure; works in a namespace of its own, dropped after",
    "  --ops N            operations per row (default 1000)",
    "  --concurrency L    comma-separated calls in flight (default 1,64)",
    '  --json             print {"url", "ops", "rows": [{op, concurrency, opsPerSec, p50, p99}]}',
    "",
    "On a terminal, stderr shows operations done, their rate, the elapsed time and the row.",
  ],
  options: {
    url: { type: "string" },
    ops: { type: "string" },
    concurrency: { type: "string" },
    json: { type: "boolean" },
  },
  async run(parsed, io) {
    const list = typeof parsed.values.concurrency === "string" ? parsed.values.concurrency : "1,64";
    const concurrencies = list.split(",").map(Number);
    if (!concurrencies.every((n) => Number.isInteger(n) && n >= 1)) {
      throw new UsageError(`--concurrency must list whole numbers >= 1, got "${list}"`, this);
    }
    await runBench(
      requireUrl(parsed, this),
      {
        ops: intFlag(parsed, "ops", this) ?? 1000,
        concurrencies,
        json: parsed.values.json === true,
      },
      io,
    );
    return 0;
  },
};
