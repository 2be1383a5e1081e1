#!/usr/bin/env node
// `find` at scale, one backend per process (issue 24, item 4):
//
//   node bench/find.mjs --url URL [--records 100000] [--rounds 5] [--seconds 2]
//                       [--load-width 64] [--no-write-cost] [--json out.json] [--label NAME]
//                       [--keep] [--namespace NS] [--options JSON]
//
// 1. loads N records through our own store (so they are exactly what resultstore writes), one
//    write each, 64 in flight, in the mix of bench/lib/find-mix.mjs; times it;
// 2. then, in alternating rounds, ours beside the hand-written native query on the same index
//    (bench/find/<backend>.mjs), after checking both return the same task ids in the same order:
//    `find({state: "FAILURE", metadata: {tenant: "t7"}}, {limit: 100})`, its second page (our
//    cursor; the native query's own keyset), and `countByState({metadata: {tenant: "t7"}})`;
// 3. the find indexes' write cost: markSuccess of new ids, 64 in flight, into a fresh namespace
//    with the indexes and into one without them, alternating (where the backend can do without).
// Prints one JSON line; bench/lib/find-report.mjs turns a set of them into RESULTS.md's section.
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createStore } from "@resultstore/core";
import {
  expectedCounts,
  FIND_STATE,
  FIND_TENANT,
  nonZero,
  PAGE,
  pageDifference,
  recordAt,
  sameCounts,
} from "./lib/find-mix.mjs";
import { alternate, measure, ratio } from "./lib/measure.mjs";
import { PAYLOAD } from "./lib/targets.mjs";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: "memory://" },
    records: { type: "string", default: "100000" },
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "2" },
    "load-width": { type: "string", default: "64" },
    "no-write-cost": { type: "boolean" },
    json: { type: "string" },
    label: { type: "string" },
    // A namespace a run before loaded and kept (--keep): measure it again without loading, e.g.
    // after changing the backend (before/after on the same records).
    namespace: { type: "string" },
    keep: { type: "boolean" },
    // Backend options of the measured store, as JSON (e.g. '{"refreshBeforeFind": false}').
    options: { type: "string" },
  },
});
const records = Number(args.records);
const rounds = Number(args.rounds);
const maxSeconds = Number(args.seconds);
/** The URL scheme's backend, whose hand-written queries are bench/find/<backend>.mjs. */
const SCHEMES = { mongodb: "mongo", cosmosdbsql: "cosmos" };
const scheme = args.url.split(":")[0].replace(/\+.*$/, "");
const backendName = SCHEMES[scheme] ?? scheme;
/** What the report calls it (mongo-java is a mongodb:// URL too). */
const label = args.label ?? backendName;
const log = (line) => console.error(`[find ${label}] ${line}`);
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const newNamespace = () => `bench_find_${randomUUID().replaceAll("-", "").slice(0, 8)}`;

const FILTER = { state: FIND_STATE, metadata: { tenant: FIND_TENANT } };
const COUNT_FILTER = { metadata: { tenant: FIND_TENANT } };
const FAILURE = { exc_type: "ValueError", exc_message: ["boom"], exc_module: "builtins" };
const TRACEBACK = 'Traceback (most recent call last):\n  File "tasks.py", line 7\nValueError: boom';

/** Backend options every store of this run gets (the Cosmos emulator's certificate). */
function commonOptions() {
  const ca = process.env.RESULTSTORE_COSMOS_CA;
  return backendName === "cosmos" && ca ? { ca: readFileSync(ca) } : {};
}

const openStore = (namespace, extra = {}) =>
  createStore({ url: args.url, backendOptions: { namespace, ...commonOptions(), ...extra } });

/** The one write that makes record `i` of the mix, as a worker (or producer) would. */
function writeRecord(store, i, prefix) {
  const { taskId, state, name, metadata } = recordAt(i, prefix);
  const request = { name };
  switch (state) {
    case "SUCCESS":
      return store.markSuccess(taskId, PAYLOAD, { request, metadata });
    case "FAILURE":
      return store.markFailure(taskId, FAILURE, { request, metadata, traceback: TRACEBACK });
    case "STARTED":
      return store.markStarted(taskId, undefined, { request, metadata });
    default:
      return store.markQueued(taskId, { name, metadata });
  }
}

async function load(store, prefix) {
  const t0 = process.hrtime.bigint();
  let done = 0;
  const tick = setInterval(() => log(`loaded ${done} of ${records}`), 30_000);
  try {
    const width = Number(args["load-width"]);
    await measure(
      async (i) => {
        await writeRecord(store, i, prefix);
        done++;
      },
      { count: records, width },
    );
  } finally {
    clearInterval(tick);
  }
  return seconds(t0);
}

/** Ours and the native query, checked to answer alike; then their timed targets. */
async function findTargets(store, native) {
  const first = await store.find(FILTER, { limit: PAGE });
  const second = first.cursor
    ? await store.find(FILTER, { limit: PAGE, cursor: first.cursor })
    : { tasks: [] };
  const nativeFirst = await native.page();
  const nativeSecond = nativeFirst.length ? await native.page(nativeFirst.at(-1)) : [];
  const ids = (page) => page.map((t) => t.taskId);
  const checks = {
    firstPage: pageDifference(ids(first.tasks), ids(nativeFirst)),
    secondPage: pageDifference(ids(second.tasks), ids(nativeSecond)),
  };
  const ourCounts = await store.countByState(COUNT_FILTER);
  const nativeCounts = await native.count();
  checks.count = sameCounts(ourCounts, nativeCounts)
    ? null
    : `ours ${JSON.stringify(nonZero(ourCounts))}, native ${JSON.stringify(nativeCounts)}`;
  for (const [what, problem] of Object.entries(checks))
    if (problem) throw new Error(`ours and the native query differ on the ${what}: ${problem}`);
  const last = nativeFirst.at(-1);
  return {
    pages: { first: first.tasks.length, second: second.tasks.length },
    counts: nonZero(ourCounts),
    targets: [
      {
        name: "ours",
        first: () => store.find(FILTER, { limit: PAGE }),
        second: () => store.find(FILTER, { limit: PAGE, cursor: first.cursor }),
        count: () => store.countByState(COUNT_FILTER),
      },
      {
        name: native.name,
        first: () => native.page(),
        second: () => native.page(last),
        count: () => native.count(),
      },
    ],
  };
}

/** One op of each target, `rounds` alternating rounds, one call at a time. */
async function compare(targets, op) {
  const samples = await alternate(targets, rounds, (target) =>
    measure(() => target[op](), { count: 1000, width: 1, maxSeconds }),
  );
  const [ours, native] = samples.map((s) => s.sample ?? { error: s.error });
  return { op, ours, native, ratio: ratio(ours, native) };
}

/** markSuccess of new ids, 64 in flight, with and without the find indexes. */
async function writeCost(nativeModule) {
  const without = await nativeModule.storeWithoutIndexes?.(args.url, newNamespace(), openStore);
  if (!without || typeof without === "string")
    return { skipped: without ?? "the backend keeps no find index it can leave out" };
  const withIndexes = await openStore(newNamespace());
  const prefix = randomUUID().slice(0, 8);
  let next = 0;
  const writer = (name, store) => ({
    name,
    store,
    write: () =>
      measure(
        () => {
          const i = next++;
          const { metadata, name: taskName } = recordAt(i);
          return store.markSuccess(`${prefix}-${i}`, PAYLOAD, {
            request: { name: taskName },
            metadata,
          });
        },
        { count: backendName === "memory" ? 50_000 : 4000, width: 64, maxSeconds },
      ),
  });
  const targets = [writer("with", withIndexes), writer("without", without.store)];
  try {
    const [a, b] = await alternate(targets, rounds, (target) => target.write());
    return {
      with: a.sample ?? { error: a.error },
      without: b.sample ?? { error: b.error },
      ratio: ratio(a.sample, b.sample),
      how: without.how,
    };
  } finally {
    for (const { store } of targets) {
      await store.backend.destroy?.();
      await store.close();
    }
    await without.close?.();
  }
}

const namespace = args.namespace ?? newNamespace();
const store = await openStore(namespace, args.options ? JSON.parse(args.options) : {});
const nativeModule = await import(`./find/${backendName}.mjs`);
let native;
const result = { backend: label, url: args.url.replace(/\/\/[^@/]*@/, "//***@"), records };
try {
  if (args.namespace) log(`measuring ${records} records loaded before into ${namespace}`);
  else {
    log(`loading ${records} records into ${namespace}`);
    result.loadSeconds = await load(store, "find");
    log(`loaded in ${result.loadSeconds.toFixed(1)} s`);
  }
  native = await nativeModule.createNative(args.url, { namespace, store, records });
  result.native = native.name;
  const { pages, counts, targets } = await findTargets(store, native);
  result.pages = pages;
  result.counts = counts;
  const expected = expectedCounts(records);
  if (!sameCounts(counts, expected))
    throw new Error(`counts ${JSON.stringify(counts)}, expected ${JSON.stringify(expected)}`);
  result.rows = [];
  // Without a second page (fewer than 101 matches) there is nothing to time on it.
  for (const op of pages.second ? ["first", "second", "count"] : ["first", "count"]) {
    const row = await compare(targets, op);
    log(
      `${op}: ours ${row.ours.p50?.toFixed(1)} ms, native ${row.native.p50?.toFixed(1)} ms, ours/native ${row.ratio?.toFixed(2)}`,
    );
    result.rows.push(row);
  }
  if (!args["no-write-cost"]) {
    result.writeCost = await writeCost(nativeModule);
    log(`write cost: ${JSON.stringify(result.writeCost)}`);
  }
} catch (error) {
  result.error = String(error?.stack ?? error);
  log(result.error);
} finally {
  await native?.close?.();
  if (args.keep) log(`kept ${namespace}`);
  else await store.backend.destroy?.();
  await store.close();
}
result.date = new Date().toISOString();
// The command without credentials, nor where this machine put the JSON.
result.command = `node bench/find.mjs ${process.argv
  .slice(2)
  .join(" ")
  .replace(/\/\/[^@/\s]*@/g, "//***@")
  .replace(/ --json \S+/, " --json RUN.json")}`;
const line = JSON.stringify(result);
if (args.json) writeFileSync(args.json, `${line}\n`);
process.stdout.write(`${line}\n`);
process.exit(result.error ? 1 : 0);
