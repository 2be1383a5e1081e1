/**
 * The backends the proof runs, the server each one needs, and how a client process opens one.
 */
import { readFileSync } from "node:fs";
import {
  type BackendModule,
  type ResultBackend,
  SCHEME_PACKAGES,
  schemeOf,
} from "@resultstore/core";
import { RemoteMemoryBackend } from "./memory-server.js";

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

export function targetNamed(name: string): Target {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) {
    throw new Error(`unknown backend ${name} (known: ${TARGETS.map((t) => t.name).join(", ")})`);
  }
  return target;
}

/** What a client process needs to open the store. */
export interface Connection {
  url: string;
  namespace: string;
  /** A CA certificate file the client trusts (the Cosmos emulator's self-signed one). */
  caFile?: string;
}

/** Opens the backend the way a user would: the package for the URL's scheme, `fromUrl`. */
export async function openBackend(connection: Connection): Promise<ResultBackend> {
  const { url, namespace, caFile } = connection;
  if (url.startsWith("http://")) return new RemoteMemoryBackend(url);
  const scheme = schemeOf(url);
  const module = (await import(SCHEME_PACKAGES[scheme] as string)) as BackendModule;
  return module.fromUrl(url, {
    namespace,
    ...(caFile ? { ca: readFileSync(caFile) } : {}),
  });
}
