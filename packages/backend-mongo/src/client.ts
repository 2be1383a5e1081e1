/** The MongoDB client: built from the resolved URL, and asked which engine it reached. */
import { ConfigurationError } from "@resultstore/core";
import { sanitizeUrl } from "@resultstore/core/backend";
import { type Document, MongoClient } from "mongodb";
import { BACKEND_NAME, type ResolvedConfig } from "./config.js";

/** FerretDB's version from `buildInfo` (FerretDB names itself there), or undefined for MongoDB. */
export async function ferretDbVersion(client: MongoClient): Promise<string | undefined> {
  try {
    const info = await client.db("admin").command({ buildInfo: 1 });
    return typeof info.ferretdbVersion === "string" ? info.ferretdbVersion : undefined;
  } catch {
    return undefined; // buildInfo refused (restricted user): assume MongoDB
  }
}

/**
 * The warning for an engine that breaks the state rules, or undefined. FerretDB 1.x runs an update
 * as an unlocked read and write, so concurrent updates of one document are lost: a SUCCESS can be
 * overwritten, metadata and counter increments vanish, chords miss their callback (PROOF.md).
 */
export function unsafeEngineWarning(ferretDb: string | undefined): string | undefined {
  const version = ferretDb?.replace(/^v/, "");
  if (version === undefined || !version.startsWith("1.")) return undefined;
  return (
    `[resultstore] [${BACKEND_NAME}] UNSAFE ENGINE: FerretDB ${version} loses concurrent updates ` +
    "of one document (an update is an unlocked read and write), so the state rules, counters and " +
    "chords do not hold under concurrency. Use MongoDB, or an engine with atomic updates."
  );
}

/**
 * Whether the driver may send one write twice: retryable writes are on (the driver's default) and
 * the deployment supports them (a replica set or sharded cluster with sessions). A standalone
 * server — FerretDB, mongo-java-server, a lone mongod — gets each write once.
 */
export async function writesMayBeResent(client: MongoClient): Promise<boolean> {
  const admin = client.db("admin");
  const hello = await admin
    .command({ hello: 1 })
    .catch(() => admin.command({ isMaster: 1 })) // mongo-java-server knows only the old name
    .catch(() => undefined);
  return resendsWrites(client.options.retryWrites, hello);
}

/** `writesMayBeResent` from the client's `retryWrites` and the server's hello (undefined: unknown). */
export function resendsWrites(retryWrites: boolean, hello: Document | undefined): boolean {
  if (retryWrites === false) return false;
  if (!hello) return true; // unknown: assume the driver may
  const replicated = typeof hello.setName === "string" || hello.msg === "isdbgrid";
  return replicated && hello.logicalSessionTimeoutMinutes != null;
}

const warned = new Set<string>();

/** The default warning sink: `process.emitWarning`, each distinct message once per process. */
export function warnOncePerProcess(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.emitWarning(message, "ResultStoreWarning");
}

export function buildClient(config: ResolvedConfig): MongoClient {
  try {
    return new MongoClient(config.url as string, config.clientOptions);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigurationError(
      BACKEND_NAME,
      `Invalid MongoDB URL ${sanitizeUrl(config.url as string)}: ${detail}`,
      { cause },
    );
  }
}
