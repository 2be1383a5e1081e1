// @resultstore/celery-interop: runs Celery's OWN result backends (Python) as a test peer.
//
// ensureCeleryEnv() builds (once) a virtualenv with the exact versions pinned in
// interop/celery/requirements.txt; celeryPeer(request) runs interop/celery/peer.py in it with one
// JSON request on stdin and resolves its JSON answer. Plain ESM with JSDoc, no build step; types
// are in ./index.d.ts.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export { BOOM, celeryDate, celeryInteropSuite, NESTED, TRACEBACK } from "./suite.mjs";
export { startCeleryWorker } from "./worker.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
/** Repository root, found from this file (not from the cwd). */
const REPO_ROOT = resolve(HERE, "..", "..", "..");
export const PEER_DIR = join(REPO_ROOT, "interop", "celery");
export const PEER_SCRIPT = join(PEER_DIR, "peer.py");
export const REQUIREMENTS = join(PEER_DIR, "requirements.txt");
/** Celery with elasticsearch-py 7.13.4, the last client that talks to OpenSearch (see the file). */
export const REQUIREMENTS_ELASTICSEARCH7 = join(PEER_DIR, "requirements-elasticsearch7.txt");

/** What a fresh venv must import, per requirements file: proof that pip installed what we need. */
const IMPORT_CHECK = {
  [REQUIREMENTS]:
    "import celery, pymongo, cassandra, boto3, elasticsearch, consul, pydocumentdb, redis",
  [REQUIREMENTS_ELASTICSEARCH7]: "import celery, elasticsearch",
};

const MARKER = ".resultstore-ready";
const LOCK_WAIT_MS = 20 * 60_000;

/** `${RESULTSTORE_CACHE_DIR:-~/.cache/resultstore}` */
export function cacheRoot() {
  return process.env.RESULTSTORE_CACHE_DIR || join(homedir(), ".cache", "resultstore");
}

/** The venv directory for a requirements file (its SHA-256, first 16 hex digits). */
export function celeryVenvDir(requirements = REQUIREMENTS) {
  const hash = createHash("sha256").update(readFileSync(requirements)).digest("hex").slice(0, 16);
  return join(cacheRoot(), `celery-venv-${hash}`);
}

const venvPython = (dir) =>
  process.platform === "win32" ? join(dir, "Scripts", "python.exe") : join(dir, "bin", "python");

/**
 * Runs a command; resolves its output, rejects with the output's tail on a non-zero exit.
 * @param {string} command @param {string[]} args @param {{env?: NodeJS.ProcessEnv, log?: (line: string) => void}} [opts]
 * @returns {Promise<string>}
 */
function run(command, args, { env = process.env, log } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const onData = (chunk) => {
      const text = chunk.toString();
      out += text;
      if (out.length > 200_000) out = out.slice(-100_000);
      if (log) for (const line of text.split("\n")) if (line.trim()) log(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${out.slice(-4000)}`));
    });
  });
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === "EPERM";
  }
}

/** A cross-process lock: an atomically created directory holding the owner's pid. */
async function withLock(lockDir, fn) {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, "pid"), String(process.pid));
      break;
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== "EEXIST") throw err;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(lockDir, "pid"), "utf8"));
      } catch {}
      if (owner && !pidAlive(owner)) {
        rmSync(lockDir, { recursive: true, force: true }); // stale: its owner died
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** @type {Map<string, Promise<string>>} */
const pending = new Map();

/**
 * Creates (first call only; later calls and later runs reuse it) the virtualenv
 * `<cache>/celery-venv-<hash of requirements.txt>` with `pip install -r requirements.txt`, and
 * resolves the path of its python. The base interpreter is `$RESULTSTORE_PYTHON` or `python3`.
 * A marker file is written only after a successful install; a half-built venv is rebuilt.
 * `options.requirements` picks another pinned file (REQUIREMENTS_ELASTICSEARCH7), in its own venv.
 * @param {{log?: (line: string) => void, requirements?: string}} [options]
 * @returns {Promise<string>}
 */
export function ensureCeleryEnv(options = {}) {
  const requirements = options.requirements ?? REQUIREMENTS;
  const dir = celeryVenvDir(requirements);
  const python = venvPython(dir);
  if (existsSync(join(dir, MARKER)) && existsSync(python)) return Promise.resolve(python);
  let p = pending.get(dir);
  if (!p) {
    p = buildVenv(dir, python, requirements, options.log).finally(() => pending.delete(dir));
    pending.set(dir, p);
  }
  return p;
}

async function buildVenv(dir, python, requirements, log) {
  mkdirSync(dirname(dir), { recursive: true });
  return withLock(`${dir}.lock`, async () => {
    if (existsSync(join(dir, MARKER)) && existsSync(python)) return python; // built meanwhile
    rmSync(dir, { recursive: true, force: true });
    const base = process.env.RESULTSTORE_PYTHON || "python3";
    const started = Date.now();
    log?.(`creating ${dir} with ${base}`);
    await run(base, ["-m", "venv", dir], { log });
    const pipEnv = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" };
    await run(python, ["-m", "pip", "install", "--prefer-binary", "-r", requirements], {
      env: pipEnv,
      log,
    });
    await run(python, ["-c", IMPORT_CHECK[requirements] ?? "import celery"], { log });
    writeFileSync(
      join(dir, MARKER),
      `${JSON.stringify({ requirements, seconds: (Date.now() - started) / 1000 })}\n`,
    );
    log?.(`celery venv ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return python;
  });
}

/** Variables the child may need; everything else (proxies, tokens, ...) stays out. */
const PASS_ENV = [
  "PATH",
  "HOME",
  "LANG",
  "LC_ALL",
  "LC_CTYPE",
  "TMPDIR",
  "TEMP",
  "TMP",
  "SYSTEMROOT",
  "TZ",
  // boto3, only relevant for a dynamodb:// URL without credentials in it:
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_DEFAULT_REGION",
  "AWS_REGION",
];

/**
 * The child's environment for one request.
 * @param {import("./index.d.ts").PeerRequest} request
 */
export function peerEnv(request) {
  /** @type {Record<string, string>} */
  const env = {};
  for (const name of PASS_ENV) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  env.PYTHONUNBUFFERED = "1";
  env.PYTHONDONTWRITEBYTECODE = "1";
  env.AWS_EC2_METADATA_DISABLED = "true"; // no instance-metadata probing on this machine
  const scheme = String(request.url ?? "").split("://")[0];
  const ca = request.peer?.cosmos_ca ?? process.env.RESULTSTORE_COSMOS_CA;
  if (scheme.startsWith("cosmosdbsql") && ca) {
    // For this child only. peer.py hands it to pydocumentdb as its CA file (verify=<ca>); plain
    // REQUESTS_CA_BUNDLE alone would not do, since pydocumentdb passes verify=False for 127.0.0.1.
    env.RESULTSTORE_COSMOS_CA = ca;
    env.REQUESTS_CA_BUNDLE = ca;
  }
  return env;
}

/**
 * Runs `python interop/celery/peer.py` with `request` as JSON on stdin and resolves the parsed
 * answer `{celery, backend, results}`. Rejects (with the child's stderr) when the process fails, its
 * stdout is not JSON, or, unless `request.allowErrors`, when any op answered `{error}`.
 * @param {import("./index.d.ts").PeerRequest} request
 * @param {{timeoutMs?: number, python?: string, requirements?: string}} [options]
 * @returns {Promise<import("./index.d.ts").PeerAnswer>}
 */
export async function celeryPeer(request, options = {}) {
  const python = options.python ?? (await ensureCeleryEnv({ requirements: options.requirements }));
  const timeoutMs = options.timeoutMs ?? 120_000;
  const { allowErrors, ...wire } = request;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, [PEER_SCRIPT], {
      cwd: PEER_DIR,
      env: peerEnv(request),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
      if (stderr.length > 400_000) stderr = stderr.slice(-200_000);
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const tail = stderr.slice(-8000);
      if (timedOut)
        return reject(new Error(`celery peer timed out after ${timeoutMs} ms\n${tail}`));
      if (code !== 0) {
        return reject(new Error(`celery peer exited ${code ?? signal}\n${tail}`));
      }
      /** @type {import("./index.d.ts").PeerAnswer} */
      let answer;
      try {
        answer = JSON.parse(stdout);
      } catch {
        return reject(
          new Error(`celery peer printed no JSON answer: ${stdout.slice(0, 2000)}\n${tail}`),
        );
      }
      if (!allowErrors) {
        const i = answer.results.findIndex(
          (r) => r !== null && typeof r === "object" && !Array.isArray(r) && "error" in r,
        );
        if (i >= 0) {
          const err = /** @type {{error: import("./index.d.ts").PeerError}} */ (answer.results[i])
            .error;
          const e = new Error(
            `celery peer op #${i} (${wire.ops[i]?.op}) failed: ${err.module}.${err.type}: ${err.message}\n${err.traceback}\n${tail}`,
          );
          return reject(Object.assign(e, { answer }));
        }
      }
      resolvePromise(answer);
    });
    child.stdin.on("error", () => {}); // the child may exit before reading everything
    child.stdin.end(JSON.stringify(wire));
  });
}
