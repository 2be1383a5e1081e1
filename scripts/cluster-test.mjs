#!/usr/bin/env node
// A package's `test:cluster`: its tests again, against the 3-node cluster of its server
// (`npm run services -- up --nodes 3 <name>`), with the options a cluster user sets.
//
//   node ../../scripts/cluster-test.mjs <ENVNAME> '<url query>' [VAR=value…] <vitest files…>
//
// Runs vitest with RESULTSTORE_<ENVNAME>_URL = RESULTSTORE_<ENVNAME>_CLUSTER_URL + the query, plus
// the VAR=value pairs. Without that cluster URL it fails in CI (CI set) and skips loudly elsewhere,
// like a missing single server.
import { spawn } from "node:child_process";

const [envName, query = "", ...rest] = process.argv.slice(2);
const extra = Object.fromEntries(
  rest
    .filter((a) => /^[A-Z_]+=/.test(a))
    .map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]),
);
const files = rest.filter((a) => !/^[A-Z_]+=/.test(a));
const clusterUrl = process.env[`RESULTSTORE_${envName}_CLUSTER_URL`];
if (!clusterUrl) {
  const why = `RESULTSTORE_${envName}_CLUSTER_URL is not set: start it with \`npm run services -- up --nodes 3 ${envName.toLowerCase()}\``;
  if (process.env.CI) {
    console.error(
      `[resultstore] In CI every cluster test runs against its real cluster, but ${why}.`,
    );
    process.exit(1);
  }
  console.warn(`\n  !!! SKIPPING the ${envName} cluster tests: ${why}\n`);
  process.exit(0);
}
const url = `${clusterUrl}${query}`;
console.error(`cluster tests against ${url}`);
const child = spawn("npx", ["vitest", "run", ...files], {
  stdio: "inherit",
  env: { ...process.env, ...extra, [`RESULTSTORE_${envName}_URL`]: url },
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
