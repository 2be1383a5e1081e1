// Shared helpers for the server modules in ./servers. Node built-ins only: `services` must work
// before (and without) the workspace's own dependencies.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";

/** Root of everything downloaded or built: outside the repository, reused across clones. */
export const CACHE_ROOT =
  process.env.RESULTSTORE_CACHE_DIR ?? join(homedir(), ".cache", "resultstore");

export function ensureDir(dir) {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Runs a command to completion, streaming its output to `log` (a function) line by line.
 * Rejects with the tail of the output when it exits non-zero.
 */
export function run(command, args, { cwd, env, log = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const tail = [];
    const onData = (chunk) => {
      for (const line of stripColours(chunk.toString()).split("\n")) {
        if (!line.trim()) continue;
        log(line);
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(tail.join("\n"));
      else reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${tail.join("\n")}`));
    });
  });
}

// Debian's Maven prints bare colour codes even in batch mode: keep logs readable.
const ESC = String.fromCharCode(27);
const COLOURS = new RegExp(`${ESC}\\[[0-9;]*m`, "g");
const stripColours = (text) => text.replace(COLOURS, "");

/**
 * Writes `pom` (a project whose dependencies are the server's artifacts) into `dir` and copies
 * their runtime dependency closure into `dir/<outputDir>` with the ordinary Maven client, so the
 * repository they come from is Maven's own default. `env` adds to the environment (e.g. JAVA_HOME).
 */
export async function mavenDependencies(dir, pom, { outputDir = "lib", log, env } = {}) {
  ensureDir(dir);
  writeFileSync(join(dir, "pom.xml"), pom);
  const plugin = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies";
  const flags = [
    "-DincludeScope=runtime",
    `-DoutputDirectory=${outputDir}`,
    "-Dmdep.overWriteIfNewer=true",
  ];
  await run("mvn", ["-B", "-q", plugin, ...flags], { cwd: dir, log, env });
}

/** A JDK tool: from JAVA_HOME when it is set, else from PATH. */
export const javaTool = (tool) =>
  process.env.JAVA_HOME ? join(process.env.JAVA_HOME, "bin", tool) : tool;

/**
 * Compiles a launcher this project wrote (`<main>.java`) against `dir/lib/*` into `dir/classes`:
 * once at install time, not on every start.
 */
export async function compileLauncher(dir, main, source, { release = "17", log } = {}) {
  writeFileSync(join(dir, `${main}.java`), source);
  const args = ["--release", release, "-cp", "lib/*", "-d", "classes", `${main}.java`];
  await run(javaTool("javac"), args, { cwd: dir, log });
}

/**
 * An HTTP(S) request that resolves `{ status, headers, body }` and never throws on HTTP errors.
 * `ca` trusts exactly that certificate; `rejectUnauthorized: false` skips verification for this one
 * request only (e.g. to fetch a server's own CA certificate).
 */
export function httpCall(
  url,
  { method = "GET", headers = {}, body, ca, rejectUnauthorized = true, timeoutMs = 5000 } = {},
) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const requester = u.protocol === "https:" ? httpsRequest : httpRequest;
    const req = requester(
      u,
      { method, headers, ca, rejectUnauthorized, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Sends `payload` over TCP and resolves with the first bytes the server answers (or rejects). */
export function tcpExchange(host, port, payload, { timeoutMs = 3000, minBytes = 1 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks = [];
    let size = 0;
    const done = (err, value) => {
      socket.destroy();
      err ? reject(err) : resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(new Error("timeout")));
    socket.on("connect", () => socket.write(payload));
    socket.on("data", (c) => {
      chunks.push(c);
      size += c.length;
      if (size >= minBytes) done(null, Buffer.concat(chunks));
    });
    socket.on("error", (e) => done(e));
  });
}

/** Resolves true when something accepts TCP connections on host:port. */
export function portOpen(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

export function sha256(text) {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/**
 * A JDK (with javac) of Java `minMajor` or newer: `$pinnedVar` if set, else JAVA_HOME if it fits,
 * else the newest of the JAVA_HOME_<n>_X64 variables of CI runners and the JDKs in /usr/lib/jvm.
 * The machine's default Java may well be 17 (which Cassandra needs). Resolves { home, major }.
 */
export function findJdk(minMajor, pinnedVar, what) {
  const pinned = process.env[pinnedVar];
  const withMajor = (h) => ({ home: h, major: javaMajor(h) });
  const others = [
    ...Object.keys(process.env)
      .filter((k) => /^JAVA_HOME_\d+_X64$/.test(k))
      .map((k) => process.env[k]),
    ...(existsSync("/usr/lib/jvm")
      ? readdirSync("/usr/lib/jvm").map((d) => join("/usr/lib/jvm", d))
      : []),
  ]
    .map(withMajor)
    .sort((a, b) => b.major - a.major);
  const candidates = pinned
    ? [withMajor(pinned)]
    : [...(process.env.JAVA_HOME ? [withMajor(process.env.JAVA_HOME)] : []), ...others];
  const found = candidates.find(
    (j) => j.major >= minMajor && existsSync(join(j.home, "bin", "javac")),
  );
  if (!found) {
    throw new Error(
      `${what} needs a JDK ${minMajor}+ and none was found in ${pinned ? pinnedVar : "JAVA_HOME, JAVA_HOME_*_X64 or /usr/lib/jvm"}: set ${pinnedVar}`,
    );
  }
  return found;
}

/** The major version from a Java home's `release` file (JAVA_VERSION="25.0.1"), or 0. */
function javaMajor(javaHome) {
  try {
    const m = readFileSync(join(javaHome, "release"), "utf8").match(
      /^JAVA_VERSION="(?:1\.)?(\d+)/m,
    );
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export { existsSync, join };
