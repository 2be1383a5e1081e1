/**
 * A throwaway npm registry on loopback: Verdaccio, pinned by ../registry/package-lock.json and
 * installed once into the project's cache; its config, storage and users live in a temp dir that
 * `stop()` deletes. npm only ever gets this registry through flags and files we create
 * (`--registry`, `--userconfig`, a project `.npmrc`): nothing is written to the user's ~/.npmrc.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const REGISTRY_DIR = new URL("../registry/", import.meta.url);

/**
 * The environment of a user's shell: without the `npm_*` variables that `npm run` (and so turbo
 * and npx) exports, which would override the project's .npmrc and point npm at the workspace.
 */
export function userEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
}

/** Runs a command, returning both streams; a failure carries the command's output. */
export async function shOutput(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(command, args, {
      ...options,
      env: options.env ?? userEnv(),
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${command} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`,
    );
  }
}

/** Runs a command, returning stdout. */
export const sh = async (...args: Parameters<typeof shOutput>): Promise<string> =>
  (await shOutput(...args)).stdout;

/** Installs the pinned Verdaccio into the cache (a no-op when the lockfile is unchanged). */
async function installVerdaccio(): Promise<string> {
  const cacheDir = process.env.RESULTSTORE_CACHE_DIR ?? join(homedir(), ".cache", "resultstore");
  const dir = join(cacheDir, "verdaccio");
  const lock = readFileSync(new URL("package-lock.json", REGISTRY_DIR), "utf8");
  const bin = join(dir, "node_modules", "verdaccio", "bin", "verdaccio");
  const installedLock = join(dir, "installed-lock.json");
  if (
    !existsSync(bin) ||
    !existsSync(installedLock) ||
    readFileSync(installedLock, "utf8") !== lock
  ) {
    mkdirSync(dir, { recursive: true });
    copyFileSync(new URL("package.json", REGISTRY_DIR), join(dir, "package.json"));
    writeFileSync(join(dir, "package-lock.json"), lock);
    await sh("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: dir });
    writeFileSync(installedLock, lock);
  }
  return bin;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface LocalRegistry {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** A user config for `npm publish --userconfig`, holding this registry's token only. */
  publishConfig: string;
  stop(): Promise<void>;
}

/** Starts Verdaccio with no uplinks: it serves what we publish to it, and nothing else. */
export async function startRegistry(): Promise<LocalRegistry> {
  const bin = await installVerdaccio();
  const dir = await mkdtemp(join(tmpdir(), "resultstore-registry-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(join(dir, "storage"))}`,
      "auth:",
      "  htpasswd:",
      `    file: ${JSON.stringify(join(dir, "htpasswd"))}`,
      "    max_users: 1",
      "uplinks: {}",
      "packages:",
      '  "@resultstore/*":',
      "    access: $all",
      "    publish: $authenticated",
      "log: { type: stdout, format: pretty, level: warn }",
      "",
    ].join("\n"),
  );
  const logFile = join(dir, "verdaccio.log");
  const log = openSync(logFile, "w");
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, "--config", config, "--listen", `127.0.0.1:${port}`],
    { stdio: ["ignore", log, log] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPing(url, child);
    const response = await fetch(`${url}-/user/org.couchdb.user:ci`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "ci", password: `ci-${port}-${Date.now()}` }),
    });
    const { token } = (await response.json()) as { token?: string };
    if (!token) throw new Error(`Verdaccio gave no token (HTTP ${response.status})`);
    const publishConfig = join(dir, "publish.npmrc");
    writeFileSync(publishConfig, `//127.0.0.1:${port}/:_authToken=${token}\n`);
    return { url, publishConfig, stop };
  } catch (error) {
    const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
    await stop();
    throw new Error(`the local registry did not start: ${(error as Error).message}\n${tail}`);
  }
}

async function waitForPing(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Verdaccio exited (${child.exitCode})`);
    try {
      if ((await fetch(`${url}-/ping`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("no answer on /-/ping within 60 s");
}
