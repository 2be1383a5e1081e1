/** What the tests share: the two engines, fresh namespaces, and raw access through the driver. */
import { randomUUID } from "node:crypto";
import { type ServerTarget, serverTarget } from "@resultstore/conformance";
import { ResultStore, type ResultStoreOptions } from "@resultstore/core";
import { type CommandStartedEvent, type Document, MongoClient } from "mongodb";
import { fromUrl, type MongoBackendOptions } from "../src/index.js";

export const DATABASE = "resultstore_test";

/** The engine behind a URL, from `buildInfo` (FerretDB adds `ferretdbVersion`). */
export interface Engine {
  name: "FerretDB" | "MongoDB";
  version: string;
}

export interface EngineTarget extends ServerTarget {
  label: string;
  engine: Engine | undefined;
}

/**
 * RESULTSTORE_MONGO_URL (FerretDB locally, a real mongod under Docker) and RESULTSTORE_MONGO_JAVA_URL
 * (mongo-java-server, which keeps MongoDB's per-document atomicity that FerretDB 1.x lacks).
 */
export async function engineTargets(): Promise<EngineTarget[]> {
  const main = await engineTarget(serverTarget("MONGO", "mongo"), "mongo");
  // mongo-java-server exists to run the concurrency groups that FerretDB cannot: it is required
  // exactly when the main engine is FerretDB (locally); under Docker the main engine is mongod.
  const javaNeeded = main.engine?.name === "FerretDB";
  const java =
    process.env.RESULTSTORE_MONGO_JAVA_URL || javaNeeded
      ? serverTarget("MONGO_JAVA", "mongo-java")
      : { url: undefined, reason: ": not needed, the main engine is MongoDB itself" };
  return [main, await engineTarget(java, "mongo-java")];
}

async function engineTarget(target: ServerTarget, label: string): Promise<EngineTarget> {
  const engine = target.url ? await detectEngine(target.url) : undefined;
  const url = target.url && engine?.name === "FerretDB" ? withPoolLimit(target.url) : target.url;
  return { ...target, url, label, engine };
}

/**
 * FerretDB 1.x on SQLite deadlocks for good once ~100 updates run at once against one database
 * (each holds one of its 100 pooled SQLite connections for its read and waits for a second to
 * write), so every test client keeps few connections there.
 */
function withPoolLimit(url: string): string {
  return `${url}${url.includes("?") ? "&" : url.endsWith("/") ? "?" : "/?"}maxPoolSize=8`;
}

async function detectEngine(url: string): Promise<Engine> {
  const client = await MongoClient.connect(url, { serverSelectionTimeoutMS: 10_000 });
  try {
    const info = await client.db("admin").command({ buildInfo: 1 });
    if (typeof info.ferretdbVersion === "string")
      return { name: "FerretDB", version: info.ferretdbVersion.replace(/^v/, "") };
    return { name: "MongoDB", version: String(info.version) };
  } finally {
    await client.close();
  }
}

export const namespaceOf = new WeakMap<ResultStore, string>();

/** A store in a fresh namespace (collection prefix) of the test database. */
export async function freshStore(
  url: string,
  storeOptions?: ResultStoreOptions,
  backendOptions: MongoBackendOptions = {},
): Promise<ResultStore> {
  const namespace = `t_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const store = new ResultStore(
    fromUrl(url, { database: DATABASE, namespace, ...backendOptions }),
    storeOptions,
  );
  namespaceOf.set(store, namespace);
  return store;
}

/**
 * Another store on `store`'s collections with its own client, as a second process would open
 * them: the conformance suite's peer for tests of several processes writing one record.
 */
export function peerStore(url: string, store: ResultStore): Promise<ResultStore> {
  const namespace = namespaceOf.get(store);
  if (!namespace) throw new Error("peerStore: not a store made by freshStore");
  return Promise.resolve(new ResultStore(fromUrl(url, { database: DATABASE, namespace })));
}

/** One driver client per URL for raw reads and writes around the store. */
const rawClients = new Map<string, MongoClient>();
export function rawClient(url: string): MongoClient {
  let client = rawClients.get(url);
  if (!client) {
    client = new MongoClient(url);
    rawClients.set(url, client);
  }
  return client;
}

export async function closeRawClients(): Promise<void> {
  await Promise.all([...rawClients.values()].map((client) => client.close()));
  rawClients.clear();
}

/** The task document exactly as the database holds it. */
export function rawTask(url: string, store: ResultStore, taskId: string): Promise<Document | null> {
  const collection = rawClient(url)
    .db(DATABASE)
    .collection<{ _id: string }>(`${namespaceOf.get(store)}_taskmeta`);
  return collection.findOne({ _id: taskId });
}

/**
 * A client of its own that records each command it sends into `sent` (clear it to start over),
 * given to `body` (pass it as a store's `client`) and closed after.
 */
export async function withRecordingClient(
  url: string,
  body: (client: MongoClient, sent: CommandStartedEvent[]) => Promise<void>,
): Promise<void> {
  const client = new MongoClient(url, { monitorCommands: true });
  const sent: CommandStartedEvent[] = [];
  client.on("commandStarted", (event) => sent.push(event));
  try {
    await body(client, sent);
  } finally {
    await client.close();
  }
}

/** The names of the commands `sent` holds, in order. */
export const commandNames = (sent: readonly CommandStartedEvent[]) =>
  sent.map((event) => event.commandName);
