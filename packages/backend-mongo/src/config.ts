/** Options and URLs resolved once, with clear errors: what a `MongoBackend` is built from. */
import { ConfigurationError } from "@resultstore/core";
import {
  assertUserinfoEncoded,
  enumOption,
  intOption,
  sanitizeUrl,
} from "@resultstore/core/backend";
import type { MongoClientOptions } from "mongodb";
import type { MongoBackendOptions, MongoResultSerializer } from "./types.js";

/** The backend's name in errors and logs: `[resultstore] [mongodb] …`. */
export const BACKEND_NAME = "mongodb";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["mongodb"];

export interface ResolvedConfig {
  /** The connection string to build a client from (undefined with a caller-built client). */
  url: string | undefined;
  clientOptions: MongoClientOptions;
  database: string;
  collections: { tasks: string; groups: string; counters: string; sets: string };
  resultSerializer: MongoResultSerializer;
  resultExpires: number | null;
  ttlIndex: boolean;
  cleanupBatchSize: number;
}

// Scheme, optional credentials, one or more hosts (replica sets list them comma-separated, which
// WHATWG URL cannot parse), then the optional /database and ?options.
const MONGO_URL = /^(mongodb(?:\+srv)?:\/\/)((?:[^@/?]*@)?)([^/?]*)(?:\/([^?]*))?(\?.*)?$/i;

/** Celery's URL rules: a bare `mongodb://` means localhost, and the path names the database. */
export function parseMongoUrl(url: string): { url: string; database: string | undefined } {
  // An unencoded "/" in the password would put the rest of it into the database name and its error.
  assertUserinfoEncoded(url.trim(), BACKEND_NAME);
  const match = MONGO_URL.exec(url.trim());
  if (!match) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Not a mongodb:// or mongodb+srv:// URL: ${sanitizeUrl(url)}`,
    );
  }
  const [, scheme = "", credentials = "", hosts = "", path = "", query = ""] = match;
  let database: string | undefined;
  try {
    database = path ? decodeURIComponent(path) : undefined;
  } catch (cause) {
    throw new ConfigurationError(BACKEND_NAME, `Malformed database name in ${sanitizeUrl(url)}`, {
      cause,
    });
  }
  return { url: `${scheme}${credentials}${hosts || "localhost"}/${path}${query}`, database };
}

// MongoDB refuses these in database names; an empty name is the driver's default ("test"), never meant.
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is one of the refused characters
const BAD_DATABASE = /[/\\. "$*<>:|?\u0000]/;
const SERIALIZERS: readonly MongoResultSerializer[] = ["json", "bson"];
// Collection names: no "$" or NUL, not "system.*", and short enough for index namespaces.
const COLLECTION = /^(?!system\.)[A-Za-z0-9_.-]{1,100}$/;

export function resolveConfig(options: MongoBackendOptions): ResolvedConfig {
  if (!options.url && !options.client) {
    throw new ConfigurationError(BACKEND_NAME, "Missing required option `url` (or a `client`).");
  }
  const parsed = options.client ? undefined : parseMongoUrl(options.url as string);
  const database = options.database ?? parsed?.database ?? "celery";
  if (!database || BAD_DATABASE.test(database) || Buffer.byteLength(database) > 63) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Invalid database name ${JSON.stringify(database)}.`,
    );
  }
  const prefix = options.namespace ?? "celery";
  const collections = {
    tasks: options.taskmetaCollection ?? `${prefix}_taskmeta`,
    groups: options.groupmetaCollection ?? `${prefix}_groupmeta`,
    counters: options.countersCollection ?? `${prefix}_counters`,
    sets: options.setsCollection ?? `${prefix}_sets`,
  };
  for (const name of Object.values(collections)) {
    if (!COLLECTION.test(name)) {
      throw new ConfigurationError(
        BACKEND_NAME,
        `Invalid collection name ${JSON.stringify(name)} ` +
          "(letters, digits, _ . - only; 1-100 characters; not system.*).",
      );
    }
  }
  const resultSerializer =
    enumOption(options.resultSerializer, SERIALIZERS, "resultSerializer", BACKEND_NAME) ?? "json";
  const resultExpires =
    options.resultExpires === null
      ? null
      : (intOption(options.resultExpires, "resultExpires", BACKEND_NAME) ?? 86_400);
  return {
    url: parsed?.url,
    clientOptions: options.clientOptions ?? {},
    database,
    collections,
    resultSerializer,
    resultExpires,
    ttlIndex: options.ttlIndex ?? false,
    cleanupBatchSize:
      intOption(options.cleanupBatchSize, "cleanupBatchSize", BACKEND_NAME, 1) ?? 1000,
  };
}
