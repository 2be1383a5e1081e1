/**
 * The backends the proof runs, the server each one needs, and how a client process opens one.
 */
import { readFileSync } from "node:fs";
import type { BackendModule, ResultBackend } from "@resultstore/core";
import { SCHEME_PACKAGES, schemeOf } from "@resultstore/core/backend";
import { RemoteMemoryBackend } from "./memory-server.js";
import { mutantNamed } from "./mutants.js";

export interface Target {
  /** The proof's name for it (`--backend NAME`). */
  name: string;
  /** The `services` server module that runs it; none for memory (the proof serves it). */
  server?: string;
  /** NAME in RESULTSTORE_<NAME>_URL and RESULTSTORE_<NAME>_PORT. */
  envName: string;
  /**
   * Why a kill erases its data, when it does: the engine keeps data in memory by design. The
   * checker counts each such kill as a reset.
   */
  inMemory?: string;
  /**
   * A cluster target: the `services` cluster of that many nodes (`up --nodes N`), whose faults hit
   * one node (see servers.ts `clusterServer`), with `query` (a cluster user's options) on its URL.
   */
  nodes?: number;
  query?: string;
  /** A broken variant of the memory backend (mutants.ts), for proving the checker. */
  mutant?: string;
}

export const TARGETS: readonly Target[] = [
  { name: "memory", envName: "MEMORY", inMemory: "MemoryBackend is a process's memory" },
  { name: "mongo", server: "mongo", envName: "MONGO" },
  {
    name: "mongo-java",
    server: "mongo-java",
    envName: "MONGO_JAVA",
    inMemory: "mongo-java-server runs with its in-memory backend",
  },
  { name: "cassandra", server: "cassandra", envName: "CASSANDRA" },
  {
    name: "dynamodb",
    server: "dynamodb",
    envName: "DYNAMODB",
    inMemory: "DynamoDB Local runs with -inMemory",
  },
  { name: "elasticsearch", server: "elasticsearch", envName: "ELASTICSEARCH" },
  // The same backend through its opensearch:// URL, which builds the OpenSearch client.
  { name: "opensearch", server: "opensearch", envName: "OPENSEARCH" },
  {
    name: "consul",
    server: "consul",
    envName: "CONSUL",
    inMemory: "the Consul dev agent keeps its state in memory",
  },
  {
    name: "cosmos",
    server: "cosmos",
    envName: "COSMOS",
    inMemory: "@vercel/cosmosdb-server keeps its databases in memory",
  },
];

/**
 * The 3-node clusters (`npm run services -- up --nodes 3 …`): chosen by name or `--clusters`, never
 * by default. Their data is on disk, so a node kill is never a reset.
 */
export const CLUSTER_TARGETS: readonly Target[] = [
  {
    name: "cassandra-cluster",
    server: "cassandra",
    envName: "CASSANDRA",
    nodes: 3,
    query:
      "?replication_factor=3&read_consistency=QUORUM&write_consistency=QUORUM&serial_consistency=SERIAL",
  },
  { name: "consul-cluster", server: "consul", envName: "CONSUL", nodes: 3, query: "" },
  {
    name: "elasticsearch-cluster",
    server: "elasticsearch",
    envName: "ELASTICSEARCH",
    nodes: 3,
    query: "?number_of_replicas=2",
  },
];

export function targetNamed(name: string): Target {
  const all = [...TARGETS, ...CLUSTER_TARGETS];
  const target = all.find((t) => t.name === name);
  if (!target) {
    throw new Error(`unknown backend ${name} (known: ${all.map((t) => t.name).join(", ")})`);
  }
  return target;
}

/** What a client process needs to open the store. */
export interface Connection {
  url: string;
  namespace: string;
  /** A CA certificate file the client trusts (the Cosmos emulator's self-signed one). */
  caFile?: string;
  /** A mutant (mutants.ts) whose client side wraps the backend opened. */
  mutant?: string;
}

/** Opens the backend the way a user would: the package for the URL's scheme, `fromUrl`. */
export async function openBackend(connection: Connection): Promise<ResultBackend> {
  const { url, namespace, caFile, mutant } = connection;
  if (url.startsWith("http://")) {
    const backend = new RemoteMemoryBackend(url);
    const wrap = mutant ? mutantNamed(mutant).client : undefined;
    return wrap ? wrap(backend, url) : backend;
  }
  const scheme = schemeOf(url);
  const module = (await import(SCHEME_PACKAGES[scheme] as string)) as BackendModule;
  return module.fromUrl(url, {
    namespace,
    ...(caFile ? { ca: readFileSync(caFile) } : {}),
  });
}
