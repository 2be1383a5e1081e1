/** URL and options → the one complete config a `MongoBackend` is built from, with clear errors. */
import { ConfigurationError } from "@resultstore/core";
import {
  assertUserinfoEncoded,
  decodeUrlPart,
  endpointOf,
  enumOption,
  intOption,
  sanitizeUrl,
  warnOnce,
} from "@resultstore/core/backend";
import type { MongoBackendOptions, MongoResultSerializer } from "./types.js";

/** The backend's name in errors and logs: `[resultstore] [mongodb] …`. */
export const BACKEND_NAME = "mongodb";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["mongodb"];

/** What a `MongoBackend` is built from: every option resolved, every default applied. */
export type ResolvedConfig = ReturnType<typeof resolveConfig>;

const invalid = (message: string) => new ConfigurationError(BACKEND_NAME, message);

// Scheme, optional credentials, one or more hosts (replica sets list them comma-separated, which
// WHATWG URL cannot parse), then the optional /database and ?options.
const MONGO_URL = /^(mongodb(?:\+srv)?:\/\/)((?:[^@/?]*@)?)([^/?]*)(?:\/([^?]*))?(\?.*)?$/i;

/** Celery's URL rules: a bare `mongodb://` means localhost, and the path names the database. */
export function parseMongoUrl(url: string) {
  // An unencoded "/" in the password would put the rest of it into the database name and its error.
  assertUserinfoEncoded(url.trim(), BACKEND_NAME);
  const match = MONGO_URL.exec(url.trim());
  if (!match) throw invalid(`Not a mongodb:// or mongodb+srv:// URL: ${sanitizeUrl(url)}`);
  const [, scheme = "", credentials = "", hosts = "", path = "", query = ""] = match;
  const host = hosts || "localhost";
  return {
    url: `${scheme}${credentials}${host}/${path}${query}`,
    database: path ? decodeUrlPart(path, "database name", BACKEND_NAME) : undefined,
    // An SRV name has no port of its own.
    endpoint: endpointOf(host.split(",")[0], /\+srv/i.test(scheme) ? undefined : 27017),
  };
}

// MongoDB refuses these in database names; an empty name is the driver's default ("test"), never meant.
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is one of the refused characters
const BAD_DATABASE = /[/\\. "$*<>:|?\u0000]/;
const SERIALIZERS: readonly MongoResultSerializer[] = ["json", "bson"];
// Collection names: no "$" or NUL, not "system.*", and short enough for index namespaces.
const COLLECTION = /^(?!system\.)[A-Za-z0-9_.-]{1,100}$/;

export function resolveConfig(options: MongoBackendOptions) {
  if (!options.url && !options.client)
    throw invalid("Missing required option `url` (or a `client`).");
  const parsed = options.client ? undefined : parseMongoUrl(options.url as string);
  const database = options.database ?? parsed?.database ?? "celery";
  if (!database || BAD_DATABASE.test(database) || Buffer.byteLength(database) > 63)
    throw invalid(`Invalid database name ${JSON.stringify(database)}.`);
  const prefix = options.namespace ?? "celery";
  const collections = {
    tasks: options.taskmetaCollection ?? `${prefix}_taskmeta`,
    groups: options.groupmetaCollection ?? `${prefix}_groupmeta`,
    counters: options.countersCollection ?? `${prefix}_counters`,
    sets: options.setsCollection ?? `${prefix}_sets`,
  };
  const badName = Object.values(collections).find((name) => !COLLECTION.test(name));
  if (badName !== undefined) {
    const rule = "letters, digits, _ . - only; 1-100 characters; not system.*";
    throw invalid(`Invalid collection name ${JSON.stringify(badName)} (${rule}).`);
  }
  return {
    url: parsed?.url, // undefined with a caller-built client
    client: options.client,
    ownsClient: !options.client || options.closeClient === true,
    clientOptions: options.clientOptions ?? {},
    endpoint: parsed?.endpoint ?? {}, // the first host, for telemetry
    database,
    collections,
    resultSerializer:
      enumOption(options.resultSerializer, SERIALIZERS, "resultSerializer", BACKEND_NAME) ?? "json",
    resultExpires:
      options.resultExpires === null
        ? null
        : (intOption(options.resultExpires, "resultExpires", BACKEND_NAME) ?? 86_400),
    ttlIndex: options.ttlIndex ?? false,
    createIndexes: options.createIndexes ?? true,
    metadataIndex: options.metadataIndex ?? true,
    cleanupBatchSize:
      intOption(options.cleanupBatchSize, "cleanupBatchSize", BACKEND_NAME, 1) ?? 1000,
    warn: warnOnce(BACKEND_NAME, options.warn), // once per store; the default once per process
  };
}
