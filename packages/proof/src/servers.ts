/**
 * The servers a proof run talks to, and the faults it may inject into them.
 *
 * - Without faults: the shared servers `npm run services -- up` started (their URLs come from
 *   RESULTSTORE_<NAME>_URL or the services state). They are never signalled.
 * - With faults: a private instance, started through the same `services` code from the same
 *   installs, but under its own run root (RESULTSTORE_RUN_DIR, in the proof's work dir) and on
 *   free ports. Only such instances are ever killed or paused, and each is stopped and deleted
 *   after its run.
 * - memory: always a private memory server process (memory-server.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Target } from "./targets.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..", "..", "..");

export interface ServerHandle {
  url: string;
  caFile?: string;
  /** Faults are only offered by private instances. */
  readonly private: boolean;
  /** SIGKILL the whole server, then start it again on the same data directory; resolves when healthy. */
  killAndRestart(): Promise<void>;
  /** SIGSTOP the whole server for `ms`, then SIGCONT. */
  pause(ms: number): Promise<void>;
  stop(): Promise<void>;
}

interface ServicesApi {
  up(
    names: string[],
    opts?: { keepData?: boolean; nodes?: number },
  ): Promise<Record<string, string>>;
  down(names: string[]): Promise<void>;
  env(names: string[], opts?: { nodes?: number }): Promise<Record<string, string>>;
  signalServers(names: string[], signal: NodeJS.Signals): Promise<void>;
  signalNode(name: string, nodes: number, index: number, signal: NodeJS.Signals): Promise<void>;
  restartNode(name: string, nodes: number, index: number): Promise<void>;
}

let services: Promise<ServicesApi> | undefined;
/** The repository's `services` orchestrator (plain Node, outside the workspaces). */
function servicesApi(): Promise<ServicesApi> {
  services ??= import(pathToFileURL(join(REPO, "scripts", "services", "cli.mjs")).href);
  return services;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The shared server's URL (and CA), or undefined when it is not running. */
export async function sharedServer(target: Target): Promise<ServerHandle | undefined> {
  const fromEnv = process.env[`RESULTSTORE_${target.envName}_URL`];
  let url = fromEnv;
  let caFile = process.env.RESULTSTORE_COSMOS_CA;
  if (!url && target.server) {
    const vars = await (await servicesApi()).env([target.server]);
    url = vars[`RESULTSTORE_${target.envName}_URL`];
    caFile ??= vars.RESULTSTORE_COSMOS_CA;
  }
  if (!url) return undefined;
  const refuse = async () => {
    throw new Error(`${target.name}: faults are only injected into private instances`);
  };
  return {
    url,
    ...(target.name === "cosmos" && caFile ? { caFile } : {}),
    private: false,
    killAndRestart: refuse,
    pause: refuse,
    stop: async () => {},
  };
}

/** Ports p, p+1, p+10, p+11 and p+10100 free: what any server module derives from its port. */
async function freePortBlock(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30_000 + Math.floor(Math.random() * 8000);
    const all = await Promise.all([0, 1, 10, 11, 10_100].map((d) => portFree(base + d)));
    if (all.every(Boolean)) return base;
  }
  throw new Error("no free port block found on 127.0.0.1");
}

/** Waits until `port` can be bound on 127.0.0.1 again, up to `timeoutMs`. */
async function waitForFreePort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portFree(port)) && Date.now() < deadline) await sleep(250);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A private instance of `target`'s server under `runRoot`, on free ports. The `services` code
 * reads RESULTSTORE_RUN_DIR and RESULTSTORE_<NAME>_PORT at each call, so they are set around
 * every call and restored after (runs are sequential).
 */
export async function privateServer(
  target: Target,
  runRoot: string,
  log: (line: string) => void,
): Promise<ServerHandle> {
  if (!target.server) return memoryServer(await freePortBlock(), target.mutant);
  const api = await servicesApi();
  const name = target.server;
  const port = await freePortBlock();
  const scoped = async <T>(call: () => Promise<T>): Promise<T> => {
    const saved = {
      run: process.env.RESULTSTORE_RUN_DIR,
      port: process.env[`RESULTSTORE_${target.envName}_PORT`],
    };
    process.env.RESULTSTORE_RUN_DIR = runRoot;
    process.env[`RESULTSTORE_${target.envName}_PORT`] = String(port);
    try {
      return await call();
    } finally {
      restore("RESULTSTORE_RUN_DIR", saved.run);
      restore(`RESULTSTORE_${target.envName}_PORT`, saved.port);
    }
  };
  log(`starting a private ${name} on port ${port}`);
  const t0 = Date.now();
  const urls = await scoped(() => api.up([name]));
  log(`private ${name} healthy in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  const vars = await scoped(() => api.env([name]));
  return {
    url: urls[name] as string,
    ...(vars.RESULTSTORE_COSMOS_CA ? { caFile: vars.RESULTSTORE_COSMOS_CA } : {}),
    private: true,
    killAndRestart: () =>
      scoped(async () => {
        await api.signalServers([name], "SIGKILL");
        await sleep(1000);
        // A killed process on a loaded machine can hold its port a while longer: restarting
        // before it is free failed a CI run ("Failed to bind" from DynamoDB Local).
        await waitForFreePort(port, 30_000);
        await api.up([name], { keepData: true });
      }),
    pause: (ms) =>
      scoped(async () => {
        await api.signalServers([name], "SIGSTOP");
        try {
          await sleep(ms);
        } finally {
          await api.signalServers([name], "SIGCONT");
        }
      }),
    stop: () => scoped(() => api.down([name])),
  };
}

/**
 * A `services` cluster (started by `up --nodes N` if it is not running; left running afterwards,
 * like the shared servers: `down --nodes N` stops it). Faults hit one node, the one whose loss
 * matters most: Consul's Raft leader, the Elasticsearch node holding the proof index's primary
 * shard, and (Cassandra has no leader; with RF 3 every node is a replica) each node in turn,
 * starting with the first contact point. A killed node restarts on its data directory, and the
 * fault ends once the module's health check sees the whole cluster again.
 */
export async function clusterServer(
  target: Target,
  log: (line: string) => void,
): Promise<ServerHandle> {
  const api = await servicesApi();
  const name = target.server as string;
  const nodes = target.nodes as number;
  log(`using the ${nodes}-node ${name} cluster (starting it if needed)`);
  await api.up([name], { nodes });
  const vars = await api.env([name], { nodes });
  let base = vars[`RESULTSTORE_${target.envName}_CLUSTER_URL`];
  if (!base) throw new Error(`the ${name} cluster is not running`);
  if (name === "consul") {
    // Clients talk to one agent. Pick one that is not the leader, so that killing the leader is a
    // leader change seen through a surviving agent, not just the loss of the clients' agent.
    const leader = await pickNode(name, nodes, -1);
    const agents = (vars.RESULTSTORE_CONSUL_CLUSTER_AGENTS ?? base).split(",");
    base = agents.find((_, i) => i !== leader) ?? base;
  }
  let turn = 0;
  const victim = async (): Promise<number> => {
    const picked = await pickNode(name, nodes, turn++);
    log(`fault target: ${name} node ${picked + 1}`);
    return picked;
  };
  return {
    url: `${base}${target.query ?? ""}`,
    private: true,
    killAndRestart: async () => {
      const index = await victim();
      await api.signalNode(name, nodes, index, "SIGKILL");
      await sleep(1000);
      await api.restartNode(name, nodes, index);
    },
    pause: async (ms) => {
      const index = await victim();
      await api.signalNode(name, nodes, index, "SIGSTOP");
      try {
        await sleep(ms);
      } finally {
        await api.signalNode(name, nodes, index, "SIGCONT");
      }
    },
    stop: async () => {},
  };
}

/** The node (0-based) a fault should hit; see clusterServer. Ports as in the server modules. */
async function pickNode(name: string, nodes: number, turn: number): Promise<number> {
  try {
    if (name === "consul") {
      // "127.0.0.1:8631": the leader's server RPC port, HTTP port + 100, HTTP ports from 8531.
      const leader = await getJson<string>("http://127.0.0.1:8531/v1/status/leader");
      const index = Number(leader.split(":")[1]) - 100 - 8531;
      if (index >= 0 && index < nodes) return index;
    }
    if (name === "elasticsearch") {
      const shards = await getJson<{ index: string; prirep: string; node: string }[]>(
        "http://127.0.0.1:9211/_cat/shards?format=json&h=index,prirep,node",
      );
      const primary = shards.find((s) => s.index.startsWith("proof_") && s.prirep === "p");
      const index = Number(primary?.node.match(/-(\d+)$/)?.[1]) - 1; // node names resultstore-<i>
      if (index >= 0 && index < nodes) return index;
    }
  } catch {
    // the node we ask may be the one down: fall back to taking turns
  }
  return ((turn % nodes) + nodes) % nodes;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return (await response.json()) as T;
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** The memory backend served by a child process of the runner. */
async function memoryServer(port: number, mutant?: string): Promise<ServerHandle> {
  let child: ChildProcess;
  const args = [join(HERE, "memory-server.js"), String(port), ...(mutant ? [mutant] : [])];
  const start = async () => {
    child = spawn(process.execPath, args, {
      stdio: ["ignore", "ignore", "inherit"],
    });
    for (let i = 0; i < 100 && (await portFree(port)); i++) await sleep(100);
  };
  await start();
  return {
    url: `http://127.0.0.1:${port}/`,
    private: true,
    killAndRestart: async () => {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      await sleep(1000);
      await start();
    },
    pause: async (ms) => {
      child.kill("SIGSTOP");
      try {
        await sleep(ms);
      } finally {
        child.kill("SIGCONT");
      }
    },
    stop: async () => {
      child.kill("SIGKILL");
    },
  };
}
