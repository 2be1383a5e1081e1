/**
 * One proof run against one backend: a server (shared, or private when faults are asked for),
 * the fault proxy in front of it, N client processes for a bounded time, faults on a schedule
 * that ends by itself, the final state, and the checker's report.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packageEnv } from "@resultstore/celery-python/wheel";
import { TcpProxy } from "@resultstore/conformance";
import { ResultStore } from "@resultstore/core";
import { sanitizeUrl } from "@resultstore/core/backend";
import { type CheckReport, check } from "./checker.js";
import { type ClientProcess, spawnNodeWorker, spawnPythonWorker } from "./clients.js";
import { readFinalState } from "./final.js";
import {
  type FaultEvent,
  type FaultKind,
  type HistoryEvent,
  isClientEvent,
  parseHistory,
  type RunEvent,
} from "./history.js";
import { celeryBackendFor, noPythonSide } from "./python.js";
import { secretForms } from "./secrets.js";
import { clusterServer, privateServer, type ServerHandle, sharedServer } from "./servers.js";
import { type Connection, openBackend, type Target } from "./targets.js";
import { DEFAULT_TASK_EXPIRES_MS, WORKLOAD, type WorkerConfig } from "./worker.js";

/** How long the clients run after the last fault healed. */
const HEALTHY_TAIL_MS = 8000;
/** Clients stop by themselves this long after they start, should the runner never say when. */
const SAFETY_MS = 30 * 60_000;
/** Fewer acknowledged calls than this and a run proves nothing. */
const MIN_ACKNOWLEDGED = 20;

export interface RunOptions {
  target: Target;
  seconds: number;
  processes: number;
  faults: FaultKind[];
  /** Where histories (and private servers' run dirs) go. */
  workDir: string;
  log: (line: string) => void;
  /** How long a SIGSTOP lasts. @default 4000 */
  pauseMs?: number;
  /** `expires` of the expiring counters. @default 3000 */
  counterExpiresMs?: number;
  /** `expires` of the expiring tasks. @default 2000 */
  taskExpiresMs?: number;
  /** How long the clients run after the last fault healed. @default 8000 */
  healthyTailMs?: number;
  /**
   * How many of the processes are Python (resultstore-celery): the last ones, so processes
   * 0 … processes - python - 1 are Node and deliver the chords. @default 0
   */
  python?: number;
}

export interface RunResult extends CheckReport {
  historyFile: string;
  /** How many of the processes were Python. */
  python: number;
  /** Why the backend was not run (no server); then every figure is 0. */
  skipped?: string;
}

export async function runProof(options: RunOptions): Promise<RunResult> {
  const { target, seconds, processes, faults, workDir, log } = options;
  const counterExpiresMs = options.counterExpiresMs ?? 3000;
  const taskExpiresMs = options.taskExpiresMs ?? DEFAULT_TASK_EXPIRES_MS;
  const python = options.python ?? 0;
  const nodeProcesses = processes - python;
  if (python < 0 || nodeProcesses < 0)
    throw new Error(`--python ${python} of ${processes} processes`);
  const why = python ? noPythonSide(target) : undefined;
  if (why) throw new Error(`${target.name} cannot run Python processes: ${why}`);
  // Before any server starts: the first build of the venv and wheel takes minutes, later ones none.
  const pythonEnv = python ? await packageEnv() : undefined;
  mkdirSync(workDir, { recursive: true });
  const historyFile = join(workDir, `${target.name}.history.jsonl`);
  writeFileSync(historyFile, "");

  const server = target.nodes
    ? await clusterServer(target, log)
    : faults.length || !target.server
      ? await privateServer(target, join(workDir, "run"), log)
      : await sharedServer(target);
  if (!server) return { ...skipped(target, historyFile, "its server is not running"), python };
  const proxy = faults.includes("drop") ? new TcpProxy("127.0.0.1", portOf(server.url)) : undefined;
  try {
    if (proxy) await proxy.start();
    const { url, secrets } = withSecrets(target, server.url);
    const clientUrl = proxy ? withPort(url, proxy.port) : url;
    const namespace = `proof_${randomBytes(4).toString("hex")}`;
    const connection = {
      url: clientUrl,
      namespace,
      ...(server.caFile ? { caFile: server.caFile } : {}),
      ...(target.mutant ? { mutant: target.mutant } : {}),
    };
    const runEvent: RunEvent = {
      type: "run",
      backend: target.name,
      url: sanitizeUrl(url),
      secrets,
      processes,
      ...(python ? { python } : {}),
      seconds,
      faults,
      counterExpiresMs,
      taskExpiresMs,
      start: Date.now(),
    };
    const record = (event: HistoryEvent) =>
      appendFileSync(historyFile, `${JSON.stringify(event)}\n`);
    record(runEvent);

    // Python clients do not create keyspaces or containers (and their Celery classes would create
    // them otherwise than the Node backend): a Node store creates the namespace first.
    if (python) await createNamespace({ ...connection, url });
    const celery = python ? celeryBackendFor(clientUrl, namespace) : undefined;
    // The clock starts once every client has opened its store (loading a driver takes seconds on
    // a busy machine); until the runner names the deadline, clients run at most SAFETY_MS.
    const workers = Array.from({ length: processes }, (_, p) => {
      const config: WorkerConfig = {
        connection,
        p,
        processes,
        deadline: Date.now() + SAFETY_MS,
        historyFile: join(workDir, `${target.name}.p${p}.jsonl`),
        // Half the clients retry transient failures (Celery's result_backend_always_retry).
        alwaysRetry: p % 2 === 0,
        counterExpiresMs,
        taskExpiresMs,
        secrets,
        callTimeoutMs: 10_000,
        chordProcesses: nodeProcesses,
      };
      writeFileSync(config.historyFile, "");
      const client: ClientProcess =
        celery && pythonEnv && p >= nodeProcesses
          ? spawnPythonWorker(
              {
                ...config,
                celery,
                workload: WORKLOAD,
                secretForms: secrets.flatMap(secretForms),
                // One Python process calls cleanup() beside Node's process 0.
                cleanup: p === nodeProcesses,
              },
              pythonEnv,
            )
          : spawnNodeWorker(config);
      return { config, client };
    });
    const exited = workers.map(({ client }) => client.exited);
    await Promise.race([Promise.all(workers.map(({ client }) => client.ready)), sleep(60_000)]);
    const tell = (deadline: number) => {
      for (const { client } of workers) client.tell(deadline);
    };
    const deadline = Date.now() + seconds * 1000;
    // The clients are told when to stop only once the faults are over: a restart can take longer
    // than the planned run (a cluster node's JVM on a busy machine), and clients told the planned
    // deadline up front had already stopped when it ended, so the healthy tail had no calls in it
    // (the recovery note fired for every cluster run whose restart outlasted the run).
    const faultEvents = await injectFaults(server, proxy, faults, deadline, target, options).catch(
      (error: unknown) => {
        tell(Date.now()); // a failed fault ends the run; the clients must not run on
        throw error;
      },
    );
    for (const f of faultEvents) record(f);
    // Every run ends with a healthy stretch: the clients keep going until the server has been
    // healthy for a while after the last fault.
    const lastFault = Math.max(0, ...faultEvents.map((f) => f.end));
    const end = Math.max(deadline, lastFault + (options.healthyTailMs ?? HEALTHY_TAIL_MS));
    if (end > deadline)
      log(`extending the run by ${((end - deadline) / 1000).toFixed(0)}s for a healthy tail`);
    tell(end);
    const hardStop = setTimeout(
      () => {
        for (const { client } of workers) client.kill();
      },
      60_000 + Math.max(0, end - Date.now()),
    );
    const codes = await Promise.all(exited);
    clearTimeout(hardStop);
    const crashed = codes.filter((c) => c !== 0).length;

    const events: HistoryEvent[] = [runEvent, ...faultEvents];
    for (const { config } of workers) {
      const text = readFileSync(config.historyFile, "utf8");
      appendFileSync(historyFile, text);
      // Not push(...): a process's history can hold more events than a call has argument slots
      // (a minute of Cassandra failing fast: ~100 000), which throws "Maximum call stack size".
      for (const event of parseHistory(text)) events.push(event);
    }
    // The final state is read by a healthy client: a mutant's bug is in its server, if anywhere.
    const { mutant: _clientBug, ...healthy } = connection;
    const direct = await openBackend({ ...healthy, url });
    try {
      const final = await readFinalState(direct, events);
      record(final);
      events.push(final);
      await direct
        .destroy?.()
        .catch((e: Error) => log(`could not drop ${namespace}: ${e.message}`));
    } finally {
      await direct.close();
    }
    const report = check(events);
    // A run in which (almost) nothing was acknowledged proves nothing: fail it, loudly.
    if (report.acknowledged < MIN_ACKNOWLEDGED) {
      report.byKind.inconclusive = 1;
      report.violations += 1;
      log(`!!! only ${report.acknowledged} of ${report.ops} calls were acknowledged: inconclusive`);
    }
    // Did the backend come back after the last fault? Not a rule, but worth knowing.
    const recoveredAfter = lastFault
      ? events.filter((e) => isClientEvent(e) && !e.error && e.start > lastFault).length
      : undefined;
    if (recoveredAfter === 0) {
      report.notes.unrecovered = 1;
      log(`!!! no call succeeded after the last fault healed: the clients did not recover`);
    }
    if (crashed) log(`!!! ${crashed} client process(es) crashed; their histories may be cut short`);
    return { ...report, historyFile, python };
  } finally {
    await proxy?.stop();
    await server.stop();
  }
}

function skipped(target: Target, historyFile: string, why: string): Omit<RunResult, "python"> {
  return {
    backend: target.name,
    ops: 0,
    acknowledged: 0,
    indeterminate: 0,
    failed: 0,
    faults: [],
    violations: 0,
    byKind: {},
    notes: { resets: 0, lostToReset: 0, chordsStalledByIndeterminate: 0 },
    examples: [],
    historyFile,
    skipped: why,
  };
}

/** A task id no history names (the checker and the final read never see it). */
const WARM_UP_ID = "proof-namespace-warm-up";

/** A Node store's first write creates the namespace's keyspace, table, index or container. */
async function createNamespace(connection: Connection): Promise<void> {
  const backend = await openBackend(connection);
  try {
    await new ResultStore(backend, { alwaysRetry: true }).markQueued(WARM_UP_ID);
  } finally {
    await backend.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Faults on a fixed schedule inside the run: each asked-for kind once per started minute, spread
 * evenly over its first 70%; the runner then extends the run past any overrun (a slow restart).
 */
async function injectFaults(
  server: ServerHandle,
  proxy: TcpProxy | undefined,
  kinds: FaultKind[],
  deadline: number,
  target: Target,
  options: RunOptions,
): Promise<FaultEvent[]> {
  const events: FaultEvent[] = [];
  if (!kinds.length) return events;
  const rounds = Math.max(1, Math.floor(options.seconds / 60));
  const order: FaultKind[] = (["pause", "drop", "kill"] as const).filter((k) => kinds.includes(k));
  const plan = Array.from({ length: rounds }, () => order).flat();
  // Faults fill the first 70% of the run; the rest (and any overrun) is the healthy tail.
  const slot = (Math.max(0, deadline - Date.now()) * 0.7) / (plan.length + 1);
  let next = Date.now() + slot;
  for (const kind of plan) {
    await sleep(Math.max(0, next - Date.now()));
    next += slot;
    const start = Date.now();
    options.log(`fault: ${kind}`);
    if (kind === "pause") await server.pause(options.pauseMs ?? 4000);
    else if (kind === "kill") await server.killAndRestart();
    else {
      for (let i = 0; i < 6; i++) {
        proxy?.cut();
        await sleep(500);
      }
    }
    events.push({
      type: "fault",
      kind,
      start,
      end: Date.now(),
      reset: kind === "kill" && Boolean(target.inMemory),
    });
  }
  return events;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function withPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.port = String(port);
  return parsed.toString();
}

/**
 * Gives the URL secrets that the local engine ignores, where it has room for them, so the
 * checker can look for them in every error: DynamoDB Local accepts any key pair, the Consul dev
 * agent any token; the Cosmos emulator's key is already one.
 */
function withSecrets(target: Target, url: string): { url: string; secrets: string[] } {
  // A URL naming several hosts is no WHATWG URL; those clusters run without planted secrets.
  if (url.includes(",")) return { url, secrets: [] };
  const tag = randomBytes(6).toString("hex");
  const parsed = new URL(url);
  if (target.name === "dynamodb") {
    parsed.username = `proofkey${tag}`;
    parsed.password = `proofsecret${tag}`;
    return { url: parsed.toString(), secrets: [`proofkey${tag}`, `proofsecret${tag}`] };
  }
  if (!target.server) {
    // The memory server ignores the query; a token there lets mutants and errors be searched.
    parsed.searchParams.set("token", `prooftoken${tag}`);
    return { url: parsed.toString(), secrets: [`prooftoken${tag}`] };
  }
  if (target.server === "consul") {
    parsed.searchParams.set("token", `prooftoken${tag}`);
    return { url: parsed.toString(), secrets: [`prooftoken${tag}`] };
  }
  if (target.name === "mongo") {
    // FerretDB 1.x on SQLite deadlocks for good once ~100 updates run at once (the driver's default
    // pool is 100 per client): keep each client's pool small, as the Mongo tests do.
    parsed.searchParams.set("maxPoolSize", "8");
    return { url: parsed.toString(), secrets: [] };
  }
  if (parsed.password) return { url, secrets: [decodeURIComponent(parsed.password)] };
  return { url, secrets: [] };
}
