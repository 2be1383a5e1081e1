// The real browser for the dashboard's test (packages/cli/test/browser): Debian's `chromium`.
// Unlike the database servers it is installed with `apt-get install`, not unpacked into the cache:
// it needs some sixty shared libraries a base system lacks, which apt resolves, and it installs
// no service that starts itself. That needs root (CI); elsewhere this says what to run.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { run } from "./services/lib.mjs";

const NAMES = ["chromium", "chromium-browser", "google-chrome"];

function onPath() {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of NAMES) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * The browser's path: RESULTSTORE_CHROMIUM, one on PATH, or (as root) Debian's chromium installed
 * now. Throws when there is none and it cannot install one.
 */
export async function ensureChromium({ log = (line) => console.error(line) } = {}) {
  const found = process.env.RESULTSTORE_CHROMIUM || onPath();
  if (found) return found;
  if (process.getuid?.() !== 0)
    throw new Error(
      "no Chromium for the dashboard's browser test: run `sudo apt-get install chromium`",
    );
  const install = () =>
    run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], {
      // Hundreds of lines of unpacking; a failure's error carries the tail.
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  try {
    await install();
  } catch {
    log("apt-get install chromium failed; refreshing the package lists (apt-get update) once");
    await run("apt-get", ["update"]);
    await install();
  }
  const installed = onPath();
  if (!installed) throw new Error("apt-get installed chromium, but no chromium is on PATH");
  const version = spawnSync(installed, ["--version"], { encoding: "utf8" }).stdout.trim();
  log(`installed ${version} at ${installed}`);
  return installed;
}
