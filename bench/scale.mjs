// Scale runs, one per process so that its peak RSS is its own (bench/all.mjs starts them):
//
//   node bench/scale.mjs growth --url memory:// --sizes 10000,100000,1000000 [--namespace NAME]
//       loads SUCCESS records cumulatively (64 in flight) and at each size measures, on the
//       records present: the load's ops/s from the previous size, 2 000 getMeta of random
//       present ids (64 in flight) and 200 getMany of 100 of them (8 in flight), each as ops/s
//       and p50/p99 ms (after an untimed warm-up of 500 get and 20 getMany before the first
//       size's), and the RSS now and peak so far. Ids are `<prefix>-<i>`, drawn from a counter,
//       so the client keeps no id list (idsMiB 0). A failure stops the load and is reported
//       beside the steps already measured.
//   node bench/scale.mjs cleanup --url memory:// --records 100000 [--namespace NAME]
//       stores N records that expire after 1 s, waits, then times one cleanup(): how many it
//       removed, and how many of 100 sampled ids still read as a result (leftAfter) or are still
//       stored at all (storedAfter, the backend's raw read: core hides expired records itself).
//       A backend with native expiry (nativeExpiry) leaves them to the database, and its
//       cleanup() may remove 0. Peak RSS of the process.
//   node bench/scale.mjs rss --url memory:// --ops 1000000 [--map]
//       1M ops on a rotating set of 100k ids (half SUCCESS writes, 4/10 reads, 1/10 incr), RSS
//       sampled every 100k ops; --map runs the same ops on a Map of the same encoded JSON.
//
// growth and cleanup work on any URL, in namespace `bench_scale_<random>` unless --namespace is
// given, and destroy that namespace at the end (`backend.destroy()`): never name one in use.
// RESULTSTORE_COSMOS_CA, when set, is the cosmosdbsql:// emulator's CA (as bench/all.mjs reads it).
// Prints one JSON line; it never holds the URL.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createStore } from "@resultstore/core";
import { measure } from "./lib/measure.mjs";
import { parseSizes } from "./lib/scale.mjs";
import { MANY, PAYLOAD } from "./lib/targets.mjs";

const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: "memory://" },
    records: { type: "string", default: "100000" },
    sizes: { type: "string", default: "10000,100000,1000000" },
    namespace: { type: "string" },
    ops: { type: "string", default: "1000000" },
    map: { type: "boolean" },
  },
});
const mib = (bytes) => Math.round(bytes / 1048576);
const rssMiB = () => mib(process.memoryUsage().rss);
/**
 * This process's peak RSS. Linux keeps `ru_maxrss` across exec, so `resourceUsage().maxRSS` of a
 * child starts at its parent's peak (bench/all.mjs's, ~250 MiB); `VmHWM` belongs to the process's
 * own memory map, fresh at exec.
 */
function peakRssMiB() {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (hwm) return Math.round(Number(hwm[1]) / 1024);
  } catch {}
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const errorText = (error) =>
  String(error?.message ?? error)
    .split("\n")[0]
    .slice(0, 200);
/** In flight while loading; get and getMany reads per step, and their widths. */
const LOAD_WIDTH = 64;
const GET = { calls: 2000, inFlight: 64 };
const GET_MANY = { calls: 200, ids: MANY, inFlight: 8 };
/** Untimed reads before the first size's (see `growth`). */
const WARM_UP = { get: 500, getMany: 20 };
/** Ids `cleanup` samples before and after it runs. */
const SAMPLED = 100;

/** Runs `op(i)` for i < n, `width` in flight. */
async function drive(n, op, width = LOAD_WIDTH) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await op(next++);
    }),
  );
}

/** A store on `--url` in its own namespace (`--namespace`, else a fresh one). */
async function openStore(options = {}) {
  const namespace = args.namespace ?? `bench_scale_${randomUUID().slice(0, 8)}`;
  const ca = process.env.RESULTSTORE_COSMOS_CA;
  const backendOptions = {
    namespace,
    ...(args.url.startsWith("cosmos") && ca ? { ca: readFileSync(ca) } : {}),
  };
  const store = await createStore({ url: args.url, ...options, backendOptions });
  return { store, namespace };
}

/** `run()`, then the namespace destroyed and the store closed, even when `run` threw. */
async function destroying(store, run) {
  try {
    return await run();
  } finally {
    try {
      await store.backend.destroy?.();
    } finally {
      await store.close();
    }
  }
}

/** Random ids among the first `n` of `idOf`. */
const randomIds = (idOf, n, count) =>
  Array.from({ length: count }, () => idOf(Math.floor(Math.random() * n)));

async function growth() {
  const sizes = parseSizes(args.sizes);
  const { store, namespace } = await openStore();
  const prefix = randomUUID();
  const idOf = (i) => `${prefix}-${i}`;
  const steps = [];
  let failure;
  const began = process.hrtime.bigint();
  let loadSeconds = 0;
  let loaded = 0;
  let destroyStarted;
  await destroying(store, async () => {
    try {
      for (const size of sizes) {
        const from = loaded;
        const t0 = process.hrtime.bigint();
        await drive(size - from, (i) => store.markSuccess(idOf(from + i), PAYLOAD));
        const took = seconds(t0);
        loadSeconds += took;
        loaded = size;
        // Reads check what they read: a rate of PENDING answers would be a lie.
        const getOne = async () => {
          const [id] = randomIds(idOf, loaded, 1);
          const meta = await store.getMeta(id);
          if (meta.status !== "SUCCESS") throw new Error(`get: ${id} read ${meta.status}`);
        };
        const getSome = async () => {
          const metas = await store.getMany(randomIds(idOf, loaded, GET_MANY.ids));
          const bad = metas.find((m) => m.status !== "SUCCESS");
          if (bad || metas.length !== GET_MANY.ids)
            throw new Error(`getMany: ${bad?.taskId} read ${bad?.status} (${metas.length} metas)`);
        };
        if (!steps.length) {
          // Untimed, once: the first size's reads would otherwise also time the JIT's warm-up
          // and the read path's first connections, and every later size would look faster.
          await measure(getOne, { count: WARM_UP.get, width: GET.inFlight });
          await measure(getSome, { count: WARM_UP.getMany, width: GET_MANY.inFlight });
        }
        const get = await measure(getOne, { count: GET.calls, width: GET.inFlight });
        const getMany = await measure(getSome, { count: GET_MANY.calls, width: GET_MANY.inFlight });
        steps.push({
          records: size,
          store: { ops: size - from, seconds: took, opsPerSec: (size - from) / took },
          get,
          getMany,
          rssMiB: rssMiB(),
          peakRssMiB: peakRssMiB(),
          loadSeconds,
          elapsedSeconds: seconds(began),
        });
      }
    } catch (error) {
      failure = `at ${loaded} records: ${errorText(error)}`;
    }
    destroyStarted = process.hrtime.bigint();
  });
  return {
    kind: "growth",
    backendName: store.backend.name,
    nativeExpiry: store.backend.capabilities?.nativeExpiry,
    namespace,
    sizes,
    payloadBytes: JSON.stringify(PAYLOAD).length,
    loadInFlight: LOAD_WIDTH,
    reads: { get: GET, getMany: GET_MANY, warmUp: WARM_UP },
    ids: "prefix-counter",
    idsMiB: 0,
    steps,
    ...(failure ? { error: failure } : {}),
    loadSeconds,
    seconds: seconds(began),
    destroySeconds: seconds(destroyStarted),
    peakRssMiB: peakRssMiB(),
  };
}

/** How many of `ids` read as a result through the API, and how many the backend still holds. */
async function sample(store, ids) {
  const metas = await store.getMany(ids);
  const backend = store.backend;
  const raw = backend.readMany
    ? await backend.readMany(ids)
    : await Promise.all(ids.map((id) => backend.read(id)));
  return {
    left: metas.filter((m) => m.status !== "PENDING").length,
    stored: raw.filter((r) => r != null).length,
  };
}

async function cleanup() {
  const records = Number(args.records);
  const { store, namespace } = await openStore({ expires: 1 });
  const began = process.hrtime.bigint();
  let destroyStarted;
  const result = await destroying(store, async () => {
    const prefix = randomUUID();
    const idOf = (i) => `${prefix}-${i}`;
    const t0 = process.hrtime.bigint();
    await drive(records, (i) => store.markSuccess(idOf(i), PAYLOAD));
    const writeSeconds = seconds(t0);
    await new Promise((r) => setTimeout(r, 1100));
    const sampled = randomIds(idOf, records, SAMPLED);
    const before = await sample(store, sampled);
    const rssBeforeMiB = rssMiB();
    const t1 = process.hrtime.bigint();
    const removed = await store.cleanup();
    const cleanupSeconds = seconds(t1);
    const after = await sample(store, sampled);
    destroyStarted = process.hrtime.bigint();
    return {
      kind: "cleanup",
      backendName: store.backend.name,
      nativeExpiry: store.backend.capabilities?.nativeExpiry,
      namespace,
      records,
      writeSeconds,
      cleanupSeconds,
      removed,
      sampled: SAMPLED,
      storedBefore: before.stored,
      leftAfter: after.left,
      storedAfter: after.stored,
      rssBeforeMiB,
    };
  });
  return {
    ...result,
    destroySeconds: seconds(destroyStarted),
    seconds: seconds(began),
    peakRssMiB: peakRssMiB(),
  };
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
const modes = { growth, cleanup, rss };
if (!Object.hasOwn(modes, kind ?? ""))
  throw new Error("usage: scale.mjs growth|cleanup|rss [--url …]");
const result = await modes[kind]();
process.stdout.write(`${JSON.stringify(result)}\n`);
