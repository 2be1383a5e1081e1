/** Celery's `cosmosdbsql://` URL and the checks every option goes through before anything connects. */
import { ConfigurationError } from "@resultstore/core";
import {
  decodeUrlPart,
  encodeUserinfo,
  enumOption,
  intOption,
  parseUrl,
  sanitizeUrl,
} from "@resultstore/core/backend";
import {
  CONSISTENCY_LEVELS,
  type CosmosBackendOptions,
  type CosmosConsistencyLevel,
  type CosmosProvisioning,
} from "./types.js";

const PROVISIONING: readonly CosmosProvisioning[] = ["auto", "never"];

/** The name every message and log line is tagged with: the package's, `backend-cosmos`. */
export const BACKEND_NAME = "cosmos";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["cosmosdbsql"];

/** Options after defaults and validation. */
export interface ResolvedOptions {
  databaseName: string;
  containerName: string;
  consistencyLevel: CosmosConsistencyLevel;
  maxRetryAttempts: number;
  maxRetryWaitSeconds: number;
  provisioning: CosmosProvisioning;
  etagCacheSize: number;
}

/**
 * Parses `cosmosdbsql://:<key>@host[:port]` as Celery does (the user name is ignored; the key is
 * percent-decoded, as kombu unquotes it). Celery picks https only for port 443; we use
 * `protocol` (default https) for every port.
 */
export function optionsFromUrl(rawUrl: string, protocol?: unknown): CosmosBackendOptions {
  // Account keys are base64, and users paste them raw: a "/" would end the URL's authority early
  // (Celery then fails with "Port could not be cast to integer") and defeat redaction in error
  // messages. Percent-encode the user info, leaving an already-encoded key as it is.
  const url = encodeUserinfo(rawUrl);
  const parsed = parseUrl(url, BACKEND_NAME);
  if (parsed.protocol !== "cosmosdbsql:") {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Expected a cosmosdbsql:// URL, got ${sanitizeUrl(url)}.`,
    );
  }
  if (!parsed.hostname) {
    throw new ConfigurationError(BACKEND_NAME, `The URL needs a host: ${sanitizeUrl(url)}.`);
  }
  const scheme = enumOption(protocol, ["https", "http"], "protocol", BACKEND_NAME) ?? "https";
  const key = parsed.password ? decodeUrlPart(parsed.password, "key", BACKEND_NAME) : undefined;
  return { endpoint: `${scheme}://${parsed.hostname}:${parsed.port || "443"}/`, key };
}

// Cosmos resource ids may not contain / \ ? # and may not end with a space; keep ours plainer.
const RESOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

/** Validates and defaults everything the backend reads from its options. */
export function resolveOptions(options: CosmosBackendOptions): ResolvedOptions {
  if (!options.client) {
    if (typeof options.endpoint !== "string" || !/^https?:\/\//.test(options.endpoint)) {
      throw new ConfigurationError(
        BACKEND_NAME,
        "Missing required option `endpoint` (an http(s):// URL), or pass `client`.",
      );
    }
    if (!options.key && !options.aadCredentials) {
      throw new ConfigurationError(
        BACKEND_NAME,
        "Missing required option `key` (the URL's password) or `aadCredentials`.",
      );
    }
  }
  const consistencyLevel =
    enumOption(options.consistencyLevel, CONSISTENCY_LEVELS, "consistencyLevel", BACKEND_NAME) ??
    "Session";
  const provisioning =
    enumOption(options.provisioning, PROVISIONING, "provisioning", BACKEND_NAME) ?? "auto";
  const databaseName = resourceName(options.databaseName ?? "celerydb", "databaseName");
  const baseContainer = resourceName(options.containerName ?? "celerycol", "containerName");
  const namespace =
    options.namespace === undefined ? undefined : resourceName(options.namespace, "namespace");
  return {
    databaseName,
    containerName: namespace ? `${baseContainer}_${namespace}` : baseContainer,
    consistencyLevel,
    maxRetryAttempts: intOption(options.maxRetryAttempts, "maxRetryAttempts", BACKEND_NAME) ?? 9,
    maxRetryWaitSeconds:
      intOption(options.maxRetryWaitSeconds, "maxRetryWaitSeconds", BACKEND_NAME) ?? 30,
    provisioning,
    etagCacheSize: intOption(options.etagCacheSize, "etagCacheSize", BACKEND_NAME) ?? 1000,
  };
}

function resourceName(value: unknown, option: string): string {
  if (typeof value !== "string" || !RESOURCE_NAME.test(value)) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Option \`${option}\` must be 1-200 letters, digits, "_", "-" or ".", ` +
        `starting with a letter or digit; got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}
