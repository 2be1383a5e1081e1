#!/usr/bin/env node
// `services`: installs, starts, checks and stops the real database servers the tests run against.
//
//   node scripts/services/cli.mjs up|down|status|env [--nodes N] [names...]
//
// With `--nodes N` (N > 1) each named server runs as an N-node cluster instead, beside the single
// nodes (its own addresses, ports and run dirs; only modules with a `cluster` spec can).
//
// Every server is a module in ./servers/<name>.mjs (contract: ./server-module.mjs). Without a Docker
// engine each one is installed from a package registry into CACHE_ROOT (outside the repository) and
// run as a local process; with a Docker engine, docker/compose.yml is used instead. Node built-ins
// only, so it works before `npm install`. Progress goes to stderr; tables and `env` go to stdout.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CACHE_ROOT, ensureDir, existsSync, portOpen } from "./lib.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..", "..");
const COMPOSE_FILE = join(REPO, "docker", "compose.yml");
/** Preferred order; modules added later by others are appended alphabetically. */
const ORDER = ["mongo", "cassandra", "dynamodb", "elasticsearch", "consul", "cosmos"];
const HOST = "127.0.0.1";
const STOP_GRACE_MS = 20_000;

const say = (line) => process.stderr.write(`${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;

// ---------------------------------------------------------------------------------------------
// Modules and their contexts

/** Loads the requested server modules (all of ./servers/*.mjs when `names` is empty), in ORDER. */
export async function loadServers(names = []) {
  const available = readdirSync(join(HERE, "servers"))
    .filter((f) => f.endsWith(".mjs"))
    .map((f) => f.slice(0, -4))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length)
    throw new Error(`unknown server(s): ${unknown.join(", ")} (known: ${available.join(", ")})`);
  const chosen = names.length ? available.filter((n) => names.includes(n)) : available;
  return Promise.all(
    chosen.map(
      async (n) => (await import(pathToFileURL(join(HERE, "servers", `${n}.mjs`)).href)).default,
    ),
  );
}
const rank = (n) => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);

/**
 * Where running servers keep pid, state, log and data. RESULTSTORE_RUN_DIR moves it, so a private
 * set of instances (e.g. the proof's, which it kills and pauses) never touches the shared ones;
 * the installs in CACHE_ROOT are reused.
 */
const runRoot = () => process.env.RESULTSTORE_RUN_DIR ?? join(CACHE_ROOT, "run");

/** The ServerContext of server-module.mjs; the port can be moved with RESULTSTORE_<NAME>_PORT. */
export function contextFor(mod, log = (line) => say(`[${mod.name}] ${line}`)) {
  const runDir = join(runRoot(), mod.name);
  const port = Number(process.env[`RESULTSTORE_${mod.envName}_PORT`] ?? mod.port);
  return {
    host: HOST,
    port,
    log,
    runDir,
    cacheDir: join(CACHE_ROOT, mod.name),
    dataDir: join(runDir, "data"),
    logFile: join(runDir, "server.log"),
  };
}

/** Where a module's N-node cluster keeps its nodes' run dirs: <run root>/<name>-cluster/node<i>. */
const clusterRoot = (mod) => join(runRoot(), `${mod.name}-cluster`);

/**
 * The contexts of the `count` nodes of a module's cluster: each at the address its `cluster.placement`
 * gives, with its own run and data dir, and `cluster` = { index, nodes } so the module can join it.
 */
export function clusterContexts(mod, count) {
  if (!mod.cluster) throw new Error(`${mod.name} cannot run as a cluster (no \`cluster\` spec)`);
  const nodes = Array.from({ length: count }, (_, i) => mod.cluster.placement(i));
  return nodes.map(({ host, port }, index) => {
    const runDir = join(clusterRoot(mod), `node${index + 1}`);
    return {
      host,
      port,
      log: (line) => say(`[${mod.name}#${index + 1}] ${line}`),
      runDir,
      cacheDir: join(CACHE_ROOT, mod.name),
      dataDir: join(runDir, "data"),
      logFile: join(runDir, "server.log"),
      cluster: { index, nodes },
    };
  });
}

/** One context per instance `up` manages: the single node, or each node of a cluster. */
const instances = (mod, nodes) => (nodes > 1 ? clusterContexts(mod, nodes) : [contextFor(mod)]);

const statePath = (ctx) => join(ctx.runDir, "state.json");
function readState(ctx) {
  try {
    return JSON.parse(readFileSync(statePath(ctx), "utf8"));
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Processes (Linux /proc): a pid is only "ours" if its start time matches the one we recorded,
// so a recycled pid is never signalled.

function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the ")" that closes the command name; index 0 is field 3 (state).
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return {
      pid,
      state: f[0],
      ppid: Number(f[1]),
      pgid: Number(f[2]),
      start: f[19],
      rssPages: Number(f[21]),
    };
  } catch {
    return null;
  }
}
function isOurs(state) {
  const s = state && procStat(state.pid);
  return Boolean(s && s.state !== "Z" && s.start === state.procStart);
}
/** Every live process in the tree: the process group we created plus any descendants. */
function processTree(rootPid) {
  const all = readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map((d) => procStat(Number(d)))
    .filter(Boolean);
  const tree = new Set([rootPid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (!tree.has(p.pid) && (p.pgid === rootPid || tree.has(p.ppid))) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter((p) => tree.has(p.pid) && p.state !== "Z");
}
const PAGE = 4096;
const rssMiB = (pid) => processTree(pid).reduce((sum, p) => sum + p.rssPages * PAGE, 0) / 2 ** 20;

function signalTree(pid, signal) {
  for (const p of processTree(pid)) {
    try {
      process.kill(p.pid, signal);
    } catch {
      /* already gone */
    }
  }
  try {
    process.kill(-pid, signal);
  } catch {
    /* group already gone */
  }
}

/**
 * SIGTERM to the whole tree, up to STOP_GRACE_MS for it to exit, then SIGKILL; then deletes the run
 * dir (with `keepLog`, all but server.log, so a failed start can still be read, e.g. by CI).
 */
async function stopProcess(ctx, state, { keepLog = false, keepData = false } = {}) {
  if (isOurs(state)) {
    ctx.log(`stopping pid ${state.pid}`);
    signalTree(state.pid, "SIGTERM");
    const deadline = Date.now() + STOP_GRACE_MS;
    while (processTree(state.pid).length && Date.now() < deadline) await sleep(200);
    if (processTree(state.pid).length) {
      ctx.log(`still running after ${STOP_GRACE_MS / 1000}s: SIGKILL`);
      signalTree(state.pid, "SIGKILL");
      while (processTree(state.pid).length) await sleep(100);
    }
  }
  if (keepData) return rmSync(statePath(ctx), { force: true });
  if (!keepLog) return rmSync(ctx.runDir, { recursive: true, force: true });
  rmSync(ctx.dataDir, { recursive: true, force: true });
  rmSync(statePath(ctx), { force: true });
}

// ---------------------------------------------------------------------------------------------
// Docker (used only when an engine answers, or RESULTSTORE_SERVICES_MODE=docker)

let dockerCache;
export function dockerMode() {
  const mode = process.env.RESULTSTORE_SERVICES_MODE;
  if (mode === "local" || mode === "docker") return mode === "docker";
  dockerCache ??= spawnSync("docker", ["info"], { stdio: "ignore", timeout: 5000 }).status === 0;
  return dockerCache;
}
/** The modules docker/compose.yml has a service for (others have no Docker equivalent: skipped). */
function inCompose(mods) {
  const r = spawnSync("docker", ["compose", "-f", COMPOSE_FILE, "config", "--services"], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`docker compose config failed: ${r.stderr}`);
  const services = r.stdout.split("\n");
  const skipped = mods.filter((m) => !services.includes(m.name)).map((m) => m.name);
  if (skipped.length) say(`no Docker service for: ${skipped.join(", ")} (skipped)`);
  return mods.filter((m) => services.includes(m.name));
}
function compose(args) {
  const r = spawnSync("docker", ["compose", "-f", COMPOSE_FILE, ...args], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0)
    throw new Error(`docker compose ${args.join(" ")} failed (exit ${r.status ?? r.error})`);
}

// ---------------------------------------------------------------------------------------------
// Commands

/**
 * Installs and starts the servers, reusing ones already running. Resolves { name: url }.
 * On failure it stops what this call started and rejects. `opts.signal` (an AbortSignal) aborts.
 * `opts.keepData` restarts a server that died (e.g. was killed) on its existing data directory
 * instead of a fresh one.
 */
export async function up(names = [], opts = {}) {
  const mods = await loadServers(names);
  const nodes = opts.nodes ?? 1;
  if (nodes > 1) return upClusters(mods, nodes, opts);
  if (dockerMode()) {
    const services = inCompose(mods);
    compose(["up", "-d", "--wait", ...services.map((m) => m.name)]);
    return Object.fromEntries(services.map((m) => [m.name, m.url(contextFor(m))]));
  }
  const started = []; // [mod, ctx] pairs this call spawned: the only ones a failure stops
  // One failure (or the caller's abort) cancels the health waits of the other servers at once.
  const cancel = new AbortController();
  opts.signal?.addEventListener("abort", () => cancel.abort());
  let firstError;
  const urls = {};
  const starts = [];
  const timings = {}; // name -> "install 1.2s, start 3.4s" for the summary
  try {
    // Installs run one at a time (builds are heavy on 2 cores); each server starts as soon as it
    // is installed, overlapping the next install.
    for (const mod of mods) {
      if (firstError) throw firstError;
      if (cancel.signal.aborted) throw new Error("interrupted");
      const ctx = contextFor(mod);
      const t0 = Date.now();
      ctx.log("installing…");
      const { engine, version } = await mod.install(ctx);
      const installTime = secs(Date.now() - t0);
      ctx.log(`installed ${engine} ${version} in ${installTime}`);
      const t1 = Date.now();
      const p = startOne(mod, ctx, { engine, version }, started, cancel.signal, opts).then(
        ({ url, reused }) => {
          urls[mod.name] = url;
          timings[mod.name] =
            `install ${installTime}, ${reused ? "already running" : `start ${secs(Date.now() - t1)}`}`;
        },
      );
      p.catch((e) => {
        firstError ??= e;
        cancel.abort();
      }); // seen before the next install starts
      starts.push(p);
    }
    await Promise.allSettled(starts);
    if (firstError) throw firstError; // the first failure in time: the cause, not a cancellation
    for (const [name, line] of Object.entries(timings)) say(`  ${name.padEnd(14)} ${line}`);
    return urls;
  } catch (err) {
    cancel.abort();
    await Promise.allSettled(starts);
    for (const [, ctx] of started)
      await stopProcess(ctx, readState(ctx), { keepLog: true }).catch(() => {});
    if (started.length)
      say(`stopped what this run started: ${started.map(([m]) => m.name).join(", ")}`);
    throw err;
  }
}

/**
 * `up` for N-node clusters (local processes only): each module installs once, then its nodes start
 * together and each waits until its module's `healthy` sees the whole cluster. Resolves
 * { name: cluster URL }.
 */
async function upClusters(mods, nodes, opts) {
  if (dockerMode()) throw new Error("--nodes runs local processes only (no Docker clusters)");
  const started = [];
  const cancel = new AbortController();
  opts.signal?.addEventListener("abort", () => cancel.abort());
  const urls = {};
  try {
    for (const mod of mods) {
      const ctxs = clusterContexts(mod, nodes);
      const t0 = Date.now();
      const installed = await mod.install(ctxs[0]);
      const t1 = Date.now();
      let firstError; // the first failure in time: the cause, not the cancellations it triggers
      const results = await Promise.allSettled(
        ctxs.map((ctx) =>
          startOne(mod, ctx, installed, started, cancel.signal, opts).catch((e) => {
            firstError ??= e;
            cancel.abort();
            throw e;
          }),
        ),
      );
      if (firstError) throw firstError;
      urls[mod.name] = mod.cluster.url(ctxs);
      const reused = results.every((r) => r.value.reused);
      say(
        `  ${`${mod.name} x${nodes}`.padEnd(16)} install ${secs(t1 - t0)}, ${reused ? "already running" : `start ${secs(Date.now() - t1)}`}`,
      );
    }
    return urls;
  } catch (err) {
    cancel.abort();
    for (const [, ctx] of started)
      await stopProcess(ctx, readState(ctx), { keepLog: true }).catch(() => {});
    throw err;
  }
}

async function startOne(mod, ctx, installed, started, signal, { keepData = false } = {}) {
  const state = readState(ctx);
  if (isOurs(state)) {
    if (await probe(mod, ctx)) {
      ctx.log(`already up (pid ${state.pid}) at ${state.url}`);
      return { url: state.url, reused: true };
    }
    ctx.log(`pid ${state.pid} is running but unhealthy: restarting it`);
  }
  await stopProcess(ctx, state, { keepData }); // clears a stale run dir (or the unhealthy process)
  if (await portOpen(ctx.host, ctx.port)) {
    throw new Error(
      `${mod.name}: port ${ctx.port} is taken by a process 'services' did not start ` +
        `(see \`ss -ltnp 'sport = :${ctx.port}'\`); stop it or set RESULTSTORE_${mod.envName}_PORT`,
    );
  }
  ensureDir(ctx.dataDir);
  const spec = await mod.start(ctx);
  const t0 = Date.now();
  const out = openSync(ctx.logFile, keepData ? "a" : "w");
  // detached: its own session and process group, so `down` can signal the whole tree.
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd ?? ctx.dataDir,
    env: { ...process.env, ...spec.env },
    detached: true,
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  let exited = null;
  child.on("exit", (code, sig) => {
    exited = sig ?? `code ${code}`;
  });
  child.on("error", (e) => {
    exited = e.message;
  });
  child.unref();
  if (!child.pid) await sleep(50); // spawn errors are reported asynchronously
  if (!child.pid) throw new Error(`${mod.name}: could not start ${spec.command}: ${exited}`);
  const pidInfo = procStat(child.pid);
  started.push([mod, ctx]);
  const url = mod.url(ctx);
  const record = {
    pid: child.pid,
    procStart: pidInfo?.start,
    port: ctx.port,
    url,
    ...installed,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(statePath(ctx), JSON.stringify(record, null, 2));
  ctx.log(`started pid ${child.pid}, waiting up to ${mod.startTimeoutSec}s for it to be healthy`);

  const deadline = t0 + mod.startTimeoutSec * 1000;
  for (;;) {
    if (signal?.aborted) throw new Error("interrupted");
    if (exited) throw failure(mod, ctx, `exited (${exited}) before it was healthy`);
    if (await probe(mod, ctx)) break;
    if (Date.now() > deadline) throw failure(mod, ctx, `not healthy after ${mod.startTimeoutSec}s`);
    await sleep(1000);
  }
  record.startSeconds = Number(((Date.now() - t0) / 1000).toFixed(1));
  writeFileSync(statePath(ctx), JSON.stringify(record, null, 2));
  ctx.log(`healthy in ${secs(Date.now() - t0)} at ${url}`);
  return { url, reused: false };
}

/** healthy() must not throw or hang, but a slow probe must never stall `up`: cap it at 15 s. */
async function probe(mod, ctx) {
  let timer;
  const timeout = new Promise((r) => {
    timer = setTimeout(() => r(false), 15_000);
  });
  try {
    return Boolean(await Promise.race([mod.healthy(ctx), timeout]));
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function failure(mod, ctx, what) {
  let tail = "";
  try {
    tail = readFileSync(ctx.logFile, "utf8").trimEnd().split("\n").slice(-40).join("\n");
  } catch {
    /* no log */
  }
  return new Error(`${mod.name} ${what}. Last lines of ${ctx.logFile}:\n${tail}`);
}

/**
 * Stops the servers that `up` started (by the pids in their state files) and deletes their run dirs;
 * with `{ nodes: N }`, the nodes of those clusters instead.
 */
export async function down(names = [], { nodes = 1 } = {}) {
  const mods = await loadServers(names);
  if (nodes > 1) {
    await Promise.all(
      mods
        .filter((mod) => mod.cluster)
        .flatMap((mod) => clusterContexts(mod, nodes))
        .map(async (ctx) => {
          const state = readState(ctx);
          if (!state && !existsSync(ctx.runDir)) return;
          await stopProcess(ctx, state);
          ctx.log("down");
        }),
    );
    for (const mod of mods) rmSync(clusterRoot(mod), { recursive: true, force: true });
    return;
  }
  if (dockerMode()) {
    compose(
      names.length
        ? ["rm", "--stop", "--force", "--volumes", ...inCompose(mods).map((m) => m.name)]
        : ["down", "--volumes"],
    );
    return;
  }
  await Promise.all(
    mods.map(async (mod) => {
      const ctx = contextFor(mod);
      const state = readState(ctx);
      if (!state && !existsSync(ctx.runDir)) return;
      await stopProcess(ctx, state);
      ctx.log("down");
    }),
  );
}

/**
 * Sends `signal` to the whole process tree of each running server `up` recorded (never to a pid it
 * did not start). For fault injection on private instances: SIGKILL, SIGSTOP, SIGCONT.
 */
export async function signalServers(names, signal) {
  for (const mod of await loadServers(names)) {
    const ctx = contextFor(mod, () => {});
    const state = readState(ctx);
    if (!isOurs(state)) throw new Error(`${mod.name} is not running under ${ctx.runDir}`);
    signalTree(state.pid, signal);
  }
}

/** signalServers for one node (0-based `index`) of a module's `nodes`-node cluster. */
export async function signalNode(name, nodes, index, signal) {
  const [mod] = await loadServers([name]);
  const ctx = clusterContexts(mod, nodes)[index];
  const state = readState(ctx);
  if (!isOurs(state))
    throw new Error(`${name} node ${index + 1} is not running under ${ctx.runDir}`);
  signalTree(state.pid, signal);
}

/**
 * Restarts one node of a cluster that died (e.g. was killed) on its existing data directory, and
 * waits until its module's `healthy` sees the whole cluster again.
 */
export async function restartNode(name, nodes, index, { signal } = {}) {
  const [mod] = await loadServers([name]);
  const ctx = clusterContexts(mod, nodes)[index];
  const installed = await mod.install(ctx);
  await startOne(mod, ctx, installed, [], signal, { keepData: true });
}

/**
 * One row per server: { name, up, port, pid, engine, version, url, rssMiB }; with `{ nodes: N }`,
 * one per node of those clusters (name `cassandra#2`; "up" means it sees the whole cluster healthy).
 */
export async function status(names = [], { nodes = 1 } = {}) {
  const mods = (await loadServers(names)).filter((m) => nodes === 1 || m.cluster);
  if (nodes === 1 && dockerMode()) {
    compose(["ps"]); // containers are Docker's to report
    return [];
  }
  const rows = mods.flatMap((mod) =>
    instances(mod, nodes).map((ctx) => ({ mod, ctx: { ...ctx, log: () => {} } })),
  );
  return Promise.all(
    rows.map(async ({ mod, ctx }) => {
      const state = readState(ctx);
      const running = isOurs(state);
      return {
        name: ctx.cluster ? `${mod.name}#${ctx.cluster.index + 1}` : mod.name,
        up: running && (await probe(mod, ctx)) ? "up" : running ? "unhealthy" : "down",
        port: ctx.cluster ? `${ctx.host}:${ctx.port}` : ctx.port,
        pid: running ? state.pid : "",
        engine: state ? `${state.engine} ${state.version}` : "",
        url: running ? state.url : "",
        rssMiB: running ? Math.round(rssMiB(state.pid)) : "",
      };
    }),
  );
}

/**
 * { RESULTSTORE_<NAME>_URL: url, ...extraEnv } for every running server; with `{ nodes: N }`,
 * { RESULTSTORE_<NAME>_CLUSTER_URL: a URL naming every node } for every cluster whose nodes all run.
 */
export async function env(names = [], { nodes = 1 } = {}) {
  if (nodes > 1) {
    const vars = {};
    for (const mod of (await loadServers(names)).filter((m) => m.cluster)) {
      const ctxs = clusterContexts(mod, nodes);
      if (ctxs.every((ctx) => isOurs(readState(ctx)))) {
        vars[`RESULTSTORE_${mod.envName}_CLUSTER_URL`] = mod.cluster.url(ctxs);
        Object.assign(vars, mod.cluster.extraEnv?.(ctxs) ?? {});
      }
    }
    return vars;
  }
  const docker = dockerMode();
  const mods = docker ? inCompose(await loadServers(names)) : await loadServers(names);
  const vars = {};
  for (const mod of mods) {
    const ctx = contextFor(mod, () => {});
    if (docker) {
      // Compose publishes the same ports; a module may need extra work for Docker (e.g. a CA file).
      vars[`RESULTSTORE_${mod.envName}_URL`] = mod.url(ctx);
      Object.assign(vars, (await mod.dockerExtraEnv?.(ctx)) ?? {});
    } else if (isOurs(readState(ctx))) {
      vars[`RESULTSTORE_${mod.envName}_URL`] = readState(ctx).url;
      Object.assign(vars, mod.extraEnv?.(ctx) ?? {});
    }
  }
  return vars;
}

// ---------------------------------------------------------------------------------------------
// CLI

const shellQuote = (v) => `'${String(v).replaceAll("'", `'\\''`)}'`;

function table(rows) {
  const cols = ["name", "up", "port", "pid", "engine", "url", "rssMiB"];
  const head = {
    name: "NAME",
    up: "STATE",
    port: "PORT",
    pid: "PID",
    engine: "ENGINE",
    url: "URL",
    rssMiB: "RSS MiB",
  };
  const all = [head, ...rows];
  const width = Object.fromEntries(
    cols.map((c) => [c, Math.max(...all.map((r) => String(r[c]).length))]),
  );
  return all
    .map((r) =>
      cols
        .map((c) => String(r[c]).padEnd(width[c]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** `--nodes N` anywhere in the arguments; the rest are server names. */
function parseArgs(args) {
  const names = [];
  let nodes = 1;
  for (let i = 0; i < args.length; i++) {
    const m = args[i].match(/^--nodes(?:=(.*))?$/);
    if (!m) names.push(args[i]);
    else nodes = Number(m[1] ?? args[++i]);
  }
  if (!Number.isInteger(nodes) || nodes < 1) throw new Error("--nodes takes a positive integer");
  return { names, nodes };
}

async function main([command, ...args]) {
  const { names, nodes } = parseArgs(args);
  switch (command) {
    case "up": {
      const controller = new AbortController();
      // Ctrl-C: let `up` notice, stop what it started and reject; a second Ctrl-C exits at once.
      const onSignal = () => {
        if (controller.signal.aborted) process.exit(130);
        say("interrupted: stopping what this run started…");
        controller.abort();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const t0 = Date.now();
      try {
        const urls = await up(names, { signal: controller.signal, nodes });
        say(`up in ${secs(Date.now() - t0)}: ${Object.keys(urls).join(", ")}`);
      } catch (err) {
        if (controller.signal.aborted) {
          say(String(err.message));
          process.exit(130);
        }
        throw err;
      }
      return;
    }
    case "down":
      return down(names, { nodes });
    case "status": {
      const rows = await status(names, { nodes });
      if (rows.length) console.log(table(rows));
      return;
    }
    case "env":
      for (const [k, v] of Object.entries(await env(names, { nodes })))
        console.log(`export ${k}=${shellQuote(v)}`);
      return;
    default:
      say("usage: node scripts/services/cli.mjs up|down|status|env [--nodes N] [names...]");
      process.exit(command ? 2 : 0);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err) => {
    say(`services: ${err.message}`);
    process.exit(1);
  });
}
