/** The MongoDB client: built from the resolved config, connected, adapted to the engine it reached. */
import { ConfigurationError } from "@resultstore/core";
import { type ErrorMapping, sanitizeUrl } from "@resultstore/core/backend";
import {
  type Collection,
  type Document,
  MongoClient,
  MongoServerError,
  MongoServerSelectionError,
} from "mongodb";
import { BACKEND_NAME, type ResolvedConfig } from "./config.js";
import { errors, INDEX_CONFLICTS, NOT_IMPLEMENTED, WriteMayHaveBeenSent } from "./errors.js";
import { FIND_INDEXES, METADATA_INDEX } from "./find.js";
import { EXPIRES_FIELD, type TaskDocument } from "./records.js";

/** What a store works with once connected. */
export type Connection = Awaited<ReturnType<typeof connect>>;

export function buildClient({ client, url, clientOptions }: ResolvedConfig): MongoClient {
  try {
    return client ?? new MongoClient(url as string, clientOptions);
  } catch (cause) {
    const message = `Invalid MongoDB URL ${sanitizeUrl(url as string)}: ${(cause as Error).message}`;
    throw new ConfigurationError(BACKEND_NAME, message, { cause });
  }
}

/** Connects, adapts to the engine and creates the indexes: once per store (again after `destroy`). */
export async function connect(client: MongoClient, config: ResolvedConfig) {
  await client.connect();
  const admin = client.db("admin");
  const hello = await admin
    .command({ hello: 1 })
    .catch(() => admin.command({ isMaster: 1 })) // mongo-java-server knows only the old name
    .catch(() => undefined);
  const resent = resendsWrites(client.options.retryWrites, hello);
  // FerretDB names itself in `buildInfo`; a restricted user refused it is taken to reach MongoDB.
  const info = await admin.command({ buildInfo: 1 }).catch((): Document => ({}));
  const ferretDb = typeof info.ferretdbVersion === "string" ? info.ferretdbVersion : undefined;
  const warning = unsafeEngineWarning(ferretDb);
  if (warning) config.warn("unsafe engine", warning);
  const retype = (error: unknown): never => {
    if (resent && error instanceof MongoServerSelectionError) throw new WriteMayHaveBeenSent(error);
    throw error;
  };
  // `errors.guard` for a driver write, which may have been sent although no server is selected now.
  const guardWrite: ErrorMapping["guard"] = (label, write, recover) =>
    errors.guard(label, () => write().catch(retype), recover);
  const db = client.db(config.database);
  const { resultSerializer: serializer, collections: names } = config;
  const collection = (name: string, options = {}) => db.collection<TaskDocument>(name, options);
  // Int64 values keep their precision in native results (read back as BigInt beyond 2^53).
  const tasks = collection(names.tasks, serializer === "bson" ? { promoteLongs: false } : {});
  const groups = collection(names.groups);
  const counters = collection(names.counters);
  const sets = collection(names.sets);
  const mongo = ferretDb === undefined; // FerretDB 1.x lacks what `Layout` names
  if (config.createIndexes) {
    await Promise.all([
      // Exactly the index Celery creates (`background` is ignored since MongoDB 4.2), so a
      // collection Celery also uses never holds two specs under one name.
      ...[tasks, groups].map((each) => each.createIndex({ date_done: 1 }, { background: true })),
      ...[tasks, groups, counters, sets].map((each) => expiryIndex(each, config.ttlIndex)),
      ...FIND_INDEXES.map((keys) => tasks.createIndex(keys)),
    ]);
    // FerretDB 1.x accepts a wildcard spec and then fails every insert ("bad JSON path").
    if (mongo && config.metadataIndex) await metadataIndex(tasks, config.warn);
  }
  const layout = { serializer, nestedArrays: mongo, insertsNulls: mongo, decimal128: mongo };
  return { tasks, groups, counters, sets, layout, guardWrite };
}

/**
 * The wildcard index on metadata, where the engine has one: an engine that refuses the spec (a
 * MongoDB before 4.2, a MongoDB-compatible service without wildcard indexes) still serves `find`,
 * scanning more for metadata filters, and says so once.
 */
async function metadataIndex(tasks: Collection<TaskDocument>, warn: ResolvedConfig["warn"]) {
  try {
    await tasks.createIndex(METADATA_INDEX);
  } catch (error) {
    if (!(error instanceof MongoServerError)) throw error;
    const reason = `the server refused it (${error.message})`;
    warn(
      "metadata index",
      `No wildcard index on metadata: ${reason}; find filters metadata by scanning.`,
    );
  }
}

/** A TTL index when asked for and supported (FerretDB answers 238), else a plain one for cleanup. */
async function expiryIndex(collection: Collection<TaskDocument>, ttl: boolean): Promise<void> {
  const tolerate = (error: unknown) => {
    if (!errors.on(INDEX_CONFLICTS, true)(error)) throw error; // exists with the other options
  };
  if (ttl) {
    try {
      await collection.createIndex({ [EXPIRES_FIELD]: 1 }, { expireAfterSeconds: 0 });
      return;
    } catch (error) {
      if (errors.statusOf(error) !== NOT_IMPLEMENTED) return tolerate(error);
    }
  }
  await collection.createIndex({ [EXPIRES_FIELD]: 1 }).catch(tolerate);
}

/**
 * The warning for an engine that breaks the state rules, or undefined: FerretDB 1.x runs an update
 * as an unlocked read and write, so concurrent updates of one document are lost (PROOF.md).
 */
export function unsafeEngineWarning(ferretDb: string | undefined): string | undefined {
  const version = ferretDb?.replace(/^v/, "");
  if (version === undefined || !version.startsWith("1.")) return undefined;
  return (
    `UNSAFE ENGINE: FerretDB ${version} loses concurrent updates of one document (an update is ` +
    "an unlocked read and write), so the state rules, counters and chords do not hold under " +
    "concurrency. Use MongoDB, or an engine with atomic updates."
  );
}

/**
 * Whether the driver may send one write twice (README, "Errors"): retryable writes are on (the
 * driver's default) on a replica set or sharded cluster with sessions. `hello` undefined: unknown.
 */
export function resendsWrites(retryWrites: boolean, hello: Document | undefined): boolean {
  if (retryWrites === false) return false;
  if (!hello) return true; // unknown: assume the driver may
  const replicated = typeof hello.setName === "string" || hello.msg === "isdbgrid";
  return replicated && hello.logicalSessionTimeoutMinutes != null;
}
