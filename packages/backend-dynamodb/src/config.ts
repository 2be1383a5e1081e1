/** Options and Celery's `dynamodb://` URL, checked before anything connects. */
import { isIP } from "node:net";
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

const DEFAULT_TABLE = "celery";
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const KEY_FORMATS: readonly DynamoDBKeyFormat[] = ["celery", "plain"];

const LOCAL_REGION = "us-east-1";
const LOCAL_PORT = "8000";
const QUERY_OPTIONS = new Set(["read", "write", "ttl_seconds"]);

/**
 * Celery's DynamoDB URL: `dynamodb://key:secret@region:port/table?read=&write=&ttl_seconds=`.
 * A host that is `localhost` or an IP address means DynamoDB Local at `http://host:port` (region
 * us-east-1), as in Celery; any other host is the AWS region.
 */
export function optionsFromUrl(url: string): DynamoDBBackendOptions {
  // AWS secrets are base64 and often hold "/": take everything up to the last "@" as the key
  // pair, so that no part of a pasted secret is read as host, table or query (nor shown in an error).
  const parsed = parseUrl(encodeUserinfo(url), BACKEND_NAME);
  if (parsed.protocol !== "dynamodb:") {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Expected a dynamodb:// URL, got ${sanitizeUrl(url)}.`,
    );
  }
  const options: DynamoDBBackendOptions = {};
  const user = decodeUrlPart(parsed.username, "access key id", BACKEND_NAME);
  const password = decodeUrlPart(parsed.password, "secret access key", BACKEND_NAME);
  if (Boolean(user) !== Boolean(password)) {
    // Celery: "You need to specify both the Access Key ID and Secret."
    throw new ConfigurationError(
      BACKEND_NAME,
      "The URL must carry both the access key id and the secret, or neither.",
    );
  }
  if (user) options.credentials = { accessKeyId: user, secretAccessKey: password };

  const host = parsed.hostname;
  const bareHost = host.replace(/^\[|\]$/g, "");
  if (host === "localhost" || isIP(bareHost) !== 0) {
    options.endpoint = `http://${host}:${parsed.port || LOCAL_PORT}`;
    options.region = LOCAL_REGION;
  } else if (host) {
    options.region = host;
  }

  const table = decodeUrlPart(parsed.pathname.replace(/^\/+/, ""), "table name", BACKEND_NAME);
  if (table) options.table = table;

  for (const key of parsed.searchParams.keys()) {
    if (!QUERY_OPTIONS.has(key)) {
      throw new ConfigurationError(
        BACKEND_NAME,
        `Unknown URL parameter \`${key}\` (known: read, write, ttl_seconds).`,
      );
    }
  }
  const query = (name: string) => parsed.searchParams.get(name) ?? undefined;
  options.readCapacityUnits = intOption(query("read"), "read", BACKEND_NAME, 1);
  options.writeCapacityUnits = intOption(query("write"), "write", BACKEND_NAME, 1);
  options.ttlSeconds = intOption(query("ttl_seconds"), "ttl_seconds", BACKEND_NAME, -1);
  return dropUndefined(options);
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Type checks for options that may come untyped (createStore's backendOptions); the table name. */
export function resolveConfig(options: DynamoDBBackendOptions): { table: string } {
  for (const key of ["region", "endpoint", "table", "namespace", "keyPrefix"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      throw new ConfigurationError(BACKEND_NAME, `Option \`${key}\` must be a non-empty string.`);
    }
  }
  enumOption(options.keyFormat, KEY_FORMATS, "keyFormat", BACKEND_NAME);
  intOption(options.readCapacityUnits, "readCapacityUnits", BACKEND_NAME, 1);
  intOption(options.writeCapacityUnits, "writeCapacityUnits", BACKEND_NAME, 1);
  intOption(options.maxAttempts, "maxAttempts", BACKEND_NAME, 1);
  if (intOption(options.ttlSeconds, "ttlSeconds", BACKEND_NAME, -1) === 0) {
    throw new ConfigurationError(
      BACKEND_NAME,
      "Option `ttlSeconds` must be -1 (no expiry) or at least 1.",
    );
  }
  const base = options.table ?? DEFAULT_TABLE;
  const table = options.namespace ? `${base}_${options.namespace}` : base;
  if (!TABLE_NAME.test(table)) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Table name ${JSON.stringify(table)} is not a valid DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .).`,
    );
  }
  return { table };
}
