/** Options and Celery's `dynamodb://` URL → one resolved config, checked before anything connects. */
import { isIP } from "node:net";
import type { DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import { ConfigurationError } from "@resultstore/core";
import {
  decodeUrlPart,
  encodeUserinfo,
  enumOption,
  intOption,
  parseUrl,
  sanitizeUrl,
} from "@resultstore/core/backend";
import type { DynamoDBBackendOptions, DynamoDBKeyFormat } from "./types.js";

/** The name every message and log line is tagged with. */
export const BACKEND_NAME = "dynamodb";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["dynamodb"];

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const KEY_FORMATS: readonly DynamoDBKeyFormat[] = ["celery", "plain"];
const QUERY_OPTIONS = new Set(["read", "write", "ttl_seconds"]);

/** Every option with its default applied (types.ts documents each). */
export type ResolvedConfig = ReturnType<typeof resolveConfig>;

const invalid = (message: string) => new ConfigurationError(BACKEND_NAME, message);

/** Celery's `dynamodb://key:secret@region:port/table?read=&write=&ttl_seconds=` (see README). */
export function optionsFromUrl(url: string): DynamoDBBackendOptions {
  // AWS secrets are base64 and often hold "/": take everything up to the last "@" as the key
  // pair, so that no part of a pasted secret is read as host, table or query (nor shown in an error).
  const parsed = parseUrl(encodeUserinfo(url), BACKEND_NAME);
  if (parsed.protocol !== "dynamodb:")
    throw invalid(`Expected a dynamodb:// URL, got ${sanitizeUrl(url)}.`);
  const options: DynamoDBBackendOptions = {};
  const user = decodeUrlPart(parsed.username, "access key id", BACKEND_NAME);
  const password = decodeUrlPart(parsed.password, "secret access key", BACKEND_NAME);
  if (Boolean(user) !== Boolean(password)) {
    // Celery: "You need to specify both the Access Key ID and Secret."
    throw invalid("The URL must carry both the access key id and the secret, or neither.");
  }
  if (user) options.credentials = { accessKeyId: user, secretAccessKey: password };

  const host = parsed.hostname;
  if (host === "localhost" || isIP(host.replace(/^\[|\]$/g, "")) !== 0) {
    options.endpoint = `http://${host}:${parsed.port || "8000"}`;
    options.region = "us-east-1";
  } else if (host) {
    options.region = host;
  }
  const table = decodeUrlPart(parsed.pathname.replace(/^\/+/, ""), "table name", BACKEND_NAME);
  if (table) options.table = table;

  for (const key of parsed.searchParams.keys()) {
    if (!QUERY_OPTIONS.has(key))
      throw invalid(`Unknown URL parameter \`${key}\` (known: read, write, ttl_seconds).`);
  }
  const query = (name: string) => parsed.searchParams.get(name) ?? undefined;
  options.readCapacityUnits = intOption(query("read"), "read", BACKEND_NAME, 1);
  options.writeCapacityUnits = intOption(query("write"), "write", BACKEND_NAME, 1);
  options.ttlSeconds = intOption(query("ttl_seconds"), "ttl_seconds", BACKEND_NAME, -1);
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

/** Checks options that may come untyped (createStore's backendOptions) and applies the defaults. */
export function resolveConfig(options: DynamoDBBackendOptions) {
  for (const key of ["region", "endpoint", "table", "namespace", "keyPrefix"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "string" || value === ""))
      throw invalid(`Option \`${key}\` must be a non-empty string.`);
  }
  const keyFormat = enumOption(options.keyFormat, KEY_FORMATS, "keyFormat", BACKEND_NAME);
  const read = intOption(options.readCapacityUnits, "readCapacityUnits", BACKEND_NAME, 1);
  const write = intOption(options.writeCapacityUnits, "writeCapacityUnits", BACKEND_NAME, 1);
  const maxAttempts = intOption(options.maxAttempts, "maxAttempts", BACKEND_NAME, 1) ?? 3;
  const ttlSeconds = intOption(options.ttlSeconds, "ttlSeconds", BACKEND_NAME, -1);
  if (ttlSeconds === 0) throw invalid("Option `ttlSeconds` must be -1 (no expiry) or at least 1.");
  const base = options.table ?? "celery";
  const table = options.namespace ? `${base}_${options.namespace}` : base;
  if (!TABLE_NAME.test(table))
    throw invalid(
      `Table name ${JSON.stringify(table)} is not a valid DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .).`,
    );
  const { region, endpoint, credentials } = options;
  const aws = region && `https://dynamodb.${region}.amazonaws.com`;
  return {
    table,
    client: options.client,
    clientConfig: {
      ...(region ? { region } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(credentials ? { credentials } : {}),
      maxAttempts,
    } satisfies DynamoDBClientConfig,
    /** Destroy the client on `close()`: ours always, a caller's only when `closeClient`. */
    ownsClient: !options.client || options.closeClient === true,
    /** Where calls go, for telemetry (unknown for a caller's client). */
    endpoint: options.client ? undefined : (endpoint ?? aws),
    manageTable: options.manageTable !== false,
    /** Create the find indexes with the table, or add them to an older one (`manageTable` only). */
    findIndexes: options.manageTable !== false && options.findIndexes !== false,
    /** Provisioned capacity for a table we create; undefined: on-demand. */
    throughput:
      read || write ? { ReadCapacityUnits: read ?? 1, WriteCapacityUnits: write ?? 1 } : undefined,
    ttlSeconds,
    keyFormat: keyFormat ?? "celery",
    keyPrefix: options.keyPrefix,
  };
}
