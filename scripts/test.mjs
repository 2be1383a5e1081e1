#!/usr/bin/env node
// `npm test`: lint, build and unit tests; then the real database servers come up (Docker compose
// when an engine answers, otherwise the project's own local installs), every backend's conformance
// suite and the Celery interop tests run against them, and the servers this run started are
// stopped again — also on failure or Ctrl-C.
//
// Then the same unit tests, DynamoDB's conformance suite and package-check's fresh project run on
// Node 22 and 24 (./node-versions.mjs installs them from the npm registry into the cache).
//
// Then the 3-node clusters (Cassandra, Consul, Elasticsearch) come up beside them, each backend's
// `test:cluster` runs (its conformance suite against its cluster, and the proof with a node killed
// and one paused), and the clusters are stopped again before the end.
//
// In CI (CI set) every server and cluster is required: one that fails to install or start fails
// the run. Elsewhere a missing one is skipped, and said so loudly at the start and at the end.
import { ensureChromium } from "./browser.mjs";
import { EXTRA_NODE_VERSIONS, NodeInstallError, runStep, testOnNode } from "./node-versions.mjs";
import { down, env, loadServers, status, up } from "./services/cli.mjs";

const inCI = Boolean(process.env.CI);
const say = (line) => process.stderr.write(`\n=== ${line}\n`);

const step = runStep;

const turbo = (...args) =>
  step("npx", ["turbo", "run", ...args, "--output-logs=new-only", "--log-order=grouped"]);

const startedHere = [];
const skipped = [];
/** The clusters `test:cluster` runs against; started after the single servers' tests. */
const CLUSTERS = ["cassandra", "consul", "elasticsearch"];
const NODES = 3;
const clustersStartedHere = [];
let stopping;

async function stopClusters() {
  const names = clustersStartedHere.splice(0);
  if (!names.length) return;
  say(`stopping the clusters this run started: ${names.join(", ")}`);
  await down(names, { nodes: NODES }).catch((e) => console.error(e.message));
}

async function stopStarted() {
  stopping ??= (async () => {
    await stopClusters();
    if (!startedHere.length) return;
    say(`stopping the servers this run started: ${startedHere.join(", ")}`);
    await down(startedHere).catch((e) => console.error(e.message));
  })();
  return stopping;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    stopStarted().finally(() => process.exit(130));
  });
}

/** Brings every server up; returns the env lines for the tests. */
async function startServers() {
  const names = (await loadServers()).map((m) => m.name);
  const before = new Set((await status()).filter((s) => s.up === "up").map((s) => s.name));
  if (inCI) {
    // One call: a failure stops what it started and prints the server's log tail.
    await up(names);
    startedHere.push(...names.filter((n) => !before.has(n)));
  } else {
    for (const name of names) {
      try {
        await up([name]);
        if (!before.has(name)) startedHere.push(name);
      } catch (error) {
        skipped.push(`${name}: ${error.message.split("\n")[0]}`);
      }
    }
    if (skipped.length)
      say(`!!! SKIPPING backends whose server could not start:\n  ${skipped.join("\n  ")}`);
  }
  return env();
}

/** The dashboard's browser (./browser.mjs): required in CI, a loud skip elsewhere. */
async function browserEnv() {
  try {
    return { RESULTSTORE_CHROMIUM: await ensureChromium() };
  } catch (error) {
    if (inCI) throw error;
    skipped.push(`the dashboard's browser test: ${error.message.split("\n")[0]}`);
    return {};
  }
}

/** Node 22 and 24 (./node-versions.mjs): a missing install fails CI, and is a loud skip elsewhere. */
async function otherNodeVersions(serverEnv) {
  for (const version of EXTRA_NODE_VERSIONS) {
    try {
      await testOnNode(version, { serverEnv, step, say });
    } catch (error) {
      if (inCI || !(error instanceof NodeInstallError)) throw error;
      skipped.push(`Node ${version}: ${error.message.split("\n")[0]}`);
    }
  }
}

/** Brings the clusters up (a failure is fatal in CI, a loud skip elsewhere); returns env lines. */
async function startClusters() {
  const before = new Set(
    (await status(CLUSTERS, { nodes: NODES }))
      .filter((s) => s.up === "up")
      .map((s) => s.name.split("#")[0]),
  );
  const wanted = inCI ? [CLUSTERS] : CLUSTERS.map((name) => [name]);
  for (const names of wanted) {
    try {
      await up(names, { nodes: NODES });
      clustersStartedHere.push(...names.filter((n) => !before.has(n)));
    } catch (error) {
      if (inCI) throw error;
      skipped.push(`${names.join(", ")} cluster: ${error.message.split("\n")[0]}`);
    }
  }
  return env(CLUSTERS, { nodes: NODES });
}

let failed = false;
try {
  say("lint");
  await step("npx", ["biome", "ci", "."]);
  say("backend template (packages/core/BACKEND.md): roles, extra files, toolkit imports, sizes");
  await step("node", ["scripts/check-backend-template.mjs"]);
  say("build, type-check (sources and tests) and unit tests (no database)");
  await turbo("build", "typecheck", "test:unit");
  say("API reference (TypeDoc): fails on an undocumented export or a broken link");
  await step("npx", ["typedoc", "--logLevel", "Warn"]);
  say("the bench harness's own logic (bench/test; no database, no timings)");
  await step("npx", ["vitest", "run", "--root", "bench"]);
  say(`servers (${inCI ? "CI: all required" : "missing ones are skipped"})`);
  const serverEnv = await startServers();
  say("the browser for the dashboard's test (Debian's chromium)");
  Object.assign(serverEnv, await browserEnv());
  say(
    "integration tests against the real servers: conformance, Celery interop, queues, the example, " +
      "the dashboard in Chromium, " +
      "and every package published to a local registry and used from a fresh project",
  );
  await step(
    "npx",
    [
      "turbo",
      "run",
      "test:integration",
      "--concurrency=1",
      "--output-logs=full",
      "--log-order=grouped",
    ],
    serverEnv,
  );
  await otherNodeVersions(serverEnv);
  say(
    `clusters: ${NODES}-node ${CLUSTERS.join(", ")} (${inCI ? "CI: all required" : "missing ones are skipped"})`,
  );
  const clusterEnv = await startClusters();
  say(
    "cluster tests: each backend's conformance suite against its cluster, and the proof with a " +
      "node fault (the leader / primary holder killed and restarted, one node paused)",
  );
  await step(
    "npx",
    [
      "turbo",
      "run",
      "test:cluster",
      "--concurrency=1",
      "--output-logs=full",
      "--log-order=grouped",
    ],
    { ...serverEnv, ...clusterEnv },
  );
  // Their memory back before anything else runs.
  await stopClusters();
} catch (error) {
  failed = true;
  console.error(`\n${error.message}`);
} finally {
  await stopStarted();
}
if (skipped.length)
  say(`!!! These backends were NOT tested (no server):\n  ${skipped.join("\n  ")}`);
say(failed ? "FAILED" : "all tests passed");
process.exit(failed ? 1 : 0);
