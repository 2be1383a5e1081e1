// resultstore-celery as users install it: built into a wheel by its build backend (pip wheel,
// hatchling) and installed from that wheel (no editable install) into a directory of the cache
// keyed by the sources' hash, beside the pinned Celery venv of @resultstore/celery-interop, which
// supplies Celery and the database clients. PYTHONPATH points at it, so the entry point
// (`celery.result_backends`) is found from the installed dist-info exactly as in a venv.
//
// Plain ESM (types in ./wheel.d.ts): this package's tests and the proof's Python workers
// (packages/proof) both run the package from here.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot, ensureCeleryEnv } from "@resultstore/celery-interop";

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Everything the wheel is built from, hashed: a change of any of them builds a new wheel. */
function sourceHash() {
  const hash = createHash("sha256");
  const files = ["pyproject.toml", "README.md"];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "__pycache__") walk(path);
      else if (entry.isFile() && !entry.name.endsWith(".pyc"))
        files.push(relative(PACKAGE_DIR, path));
    }
  };
  walk(join(PACKAGE_DIR, "src"));
  for (const file of files)
    hash
      .update(file)
      .update("\0")
      .update(readFileSync(join(PACKAGE_DIR, file)));
  return hash.digest("hex").slice(0, 16);
}

/** Runs a command; resolves its output (stdout and stderr), rejects with its tail on failure. */
export function run(command, args, env = process.env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      out += c;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolvePromise(out)
        : reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${out.slice(-4000)}`)),
    );
  });
}

let pending;

/** Builds (once per source hash; later runs reuse it) and installs the wheel. */
export function packageEnv() {
  pending ??= build();
  return pending;
}

async function build() {
  const python = await ensureCeleryEnv({ log: (line) => console.error(`[celery-venv] ${line}`) });
  const dir = join(cacheRoot(), `resultstore-celery-${sourceHash()}`);
  const find = () => {
    const dist = join(dir, "dist");
    const wheel = existsSync(join(dir, "site"))
      ? readdirSync(dist).find((f) => f.endsWith(".whl"))
      : undefined;
    return wheel ? { python, site: join(dir, "site"), wheel: join(dist, wheel) } : undefined;
  };
  const ready = find();
  if (ready) return ready;
  // Built in a private directory, then renamed into place: concurrent test files never see half.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const pipEnv = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" };
  await run(
    python,
    ["-m", "pip", "wheel", "--no-deps", "-w", join(tmp, "dist"), PACKAGE_DIR],
    pipEnv,
  );
  const wheel = readdirSync(join(tmp, "dist")).find((f) => f.endsWith(".whl"));
  if (!wheel) throw new Error(`pip wheel built no wheel in ${tmp}`);
  await run(
    python,
    ["-m", "pip", "install", "--no-deps", "--target", join(tmp, "site"), join(tmp, "dist", wheel)],
    pipEnv,
  );
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process renamed its copy first
  }
  const built = find();
  if (!built) throw new Error(`resultstore-celery was not installed into ${dir}`);
  return built;
}

/** The environment of a Python child: the installed wheel on its path, nothing else of ours. */
export function pythonEnv(site, extra = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: process.env.LANG,
    PYTHONPATH: site,
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    AWS_EC2_METADATA_DISABLED: "true",
    ...extra,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  return env;
}
