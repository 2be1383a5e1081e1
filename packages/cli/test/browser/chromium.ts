/**
 * The real browser for the dashboard's test: Debian's `chromium` (RESULTSTORE_CHROMIUM, else the
 * first of the usual names on PATH), driven by playwright-core, which downloads no browser of its
 * own. In CI a missing browser fails the run, as a missing database server does; elsewhere the
 * test is skipped with a loud line.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

const NAMES = ["chromium", "chromium-browser", "google-chrome"];

export interface BrowserTarget {
  executable: string | undefined;
  reason: string;
}

export function chromiumTarget(): BrowserTarget {
  const given = process.env.RESULTSTORE_CHROMIUM;
  const found = given || onPath();
  if (found) return { executable: found, reason: "" };
  const reason =
    "no Chromium found (RESULTSTORE_CHROMIUM, or chromium on PATH): `sudo apt-get install chromium`";
  if (process.env.CI)
    throw new Error(
      `[resultstore] In CI the dashboard is tested in a real browser, but ${reason}.`,
    );
  console.warn(`\n  !!! SKIPPING the dashboard's browser test: ${reason}\n`);
  return { executable: undefined, reason };
}

function onPath(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of NAMES) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}
