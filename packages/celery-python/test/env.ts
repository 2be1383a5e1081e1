/**
 * The test side of resultstore-celery: the wheel as users install it (lib/wheel.mjs, shared with
 * the proof's Python workers) and the driver that runs one request of ops through it.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { PACKAGE_DIR, packageEnv, pythonEnv } from "../lib/wheel.mjs";

export { PACKAGE_DIR, type PackageEnv, packageEnv, pythonEnv, run } from "../lib/wheel.mjs";

export const DRIVER_DIR = join(PACKAGE_DIR, "test", "python");

export interface DriverRequest {
  /** The URL after "resultstore+" (what createStore takes). */
  url: string;
  settings?: Record<string, unknown>;
  ops: Record<string, unknown>[];
}

/** Runs test/python/driver.py with one request; resolves its answers, one per op. */
export async function pythonDriver(request: DriverRequest): Promise<unknown[]> {
  const { python, site } = await packageEnv();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, [join(DRIVER_DIR, "driver.py")], {
      cwd: DRIVER_DIR,
      env: pythonEnv(site),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`driver.py exited ${code}\n${stderr.slice(-6000)}`));
      try {
        resolvePromise(JSON.parse(stdout) as unknown[]);
      } catch {
        reject(
          new Error(`driver.py printed no JSON: ${stdout.slice(0, 2000)}\n${stderr.slice(-4000)}`),
        );
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}
