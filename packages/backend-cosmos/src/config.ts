/** The `cosmosdbsql://` URL and every option, checked and defaulted before anything connects. */
import type { CosmosClient, CosmosClientOptions } from "@azure/cosmos";
import { ConfigurationError } from "@resultstore/core";
import {
  decodeUrlPart,
  encodeUserinfo,
  enumOption,
  intOption,
  parseUrl,
  sanitizeUrl,
} from "@resultstore/core/backend";
import { CONSISTENCY_LEVELS, type CosmosBackendOptions } from "./types.js";

/** The name every message and log line is tagged with: the package's, `backend-cosmos`. */
export const BACKEND_NAME = "cosmos";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["cosmosdbsql"];

/** Where the client comes from: the caller's, or one of ours built from `options` (client.ts). */
export type ClientSource =
  | { kind: "given"; client: CosmosClient; dispose: boolean }
  | { kind: "own"; options: CosmosClientOptions; ca: CosmosBackendOptions["ca"] };

/** Every option checked and defaulted; `containerName` is `<containerName>_<namespace>` with a namespace. */
export type ResolvedConfig = ReturnType<typeof resolveConfig>;

/** `cosmosdbsql://:<key>@host[:port]` as Celery reads it, with `protocol` on every port. */
export function optionsFromUrl(rawUrl: string, protocol?: unknown): CosmosBackendOptions {
  // Raw base64 keys hold "/", which would end the host part and escape redaction: encode them.
  const url = encodeUserinfo(rawUrl);
  const parsed = parseUrl(url, BACKEND_NAME);
  if (parsed.protocol !== "cosmosdbsql:") {
    throw configError(`Expected a cosmosdbsql:// URL, got ${sanitizeUrl(url)}.`);
  }
  if (!parsed.hostname) throw configError(`The URL needs a host: ${sanitizeUrl(url)}.`);
  const scheme = enumOption(protocol, ["https", "http"], "protocol", BACKEND_NAME) ?? "https";
  const key = parsed.password ? decodeUrlPart(parsed.password, "key", BACKEND_NAME) : undefined;
  return { endpoint: `${scheme}://${parsed.hostname}:${parsed.port || "443"}/`, key };
}

export function resolveConfig(options: CosmosBackendOptions) {
  const int = (option: "maxRetryAttempts" | "maxRetryWaitSeconds" | "etagCacheSize") =>
    intOption(options[option], option, BACKEND_NAME);
  const oneOf = <T extends string>(option: keyof CosmosBackendOptions, allowed: readonly T[]) =>
    enumOption(options[option], allowed, option, BACKEND_NAME);
  // 429s are retried by the SDK after the server's retry-after, as Celery's pydocumentdb does.
  const retryOptions = {
    maxRetryAttemptCount: int("maxRetryAttempts") ?? 9,
    maxWaitTimeInSeconds: int("maxRetryWaitSeconds") ?? 30,
  };
  const settings = {
    consistencyLevel: oneOf("consistencyLevel", CONSISTENCY_LEVELS) ?? "Session",
    connectionPolicy: { retryOptions },
  };
  const container = resourceName(options.containerName ?? "celerycol", "containerName");
  const namespace =
    options.namespace === undefined ? undefined : resourceName(options.namespace, "namespace");
  return {
    source: clientSource(options, settings),
    databaseName: resourceName(options.databaseName ?? "celerydb", "databaseName"),
    containerName: namespace ? `${container}_${namespace}` : container,
    provisioning: oneOf("provisioning", ["auto", "never"]) ?? "auto",
    etagCacheSize: int("etagCacheSize") ?? 1000,
  };
}

type ClientSettings = Omit<CosmosClientOptions, "endpoint">;

function clientSource(options: CosmosBackendOptions, settings: ClientSettings): ClientSource {
  const { client, endpoint, key, aadCredentials, agent } = options;
  if (client) return { kind: "given", client, dispose: options.closeClient === true };
  if (typeof endpoint !== "string" || !/^https?:\/\//.test(endpoint)) {
    throw configError("Missing required option `endpoint` (an http(s):// URL), or pass `client`.");
  }
  if (!key && !aadCredentials) {
    throw configError("Missing required option `key` (the URL's password) or `aadCredentials`.");
  }
  const credentials = key ? { key } : { aadCredentials };
  const clientOptions = { endpoint, ...credentials, ...settings, ...(agent ? { agent } : {}) };
  // `ca` goes to an agent of our own; a caller's `agent` decides what it trusts.
  return { kind: "own", options: clientOptions, ca: agent ? undefined : options.ca };
}

// Cosmos resource ids may not contain / \ ? # and may not end with a space; keep ours plainer.
const RESOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

function resourceName(value: unknown, option: string): string {
  if (typeof value === "string" && RESOURCE_NAME.test(value)) return value;
  const rule = `1-200 letters, digits, "_", "-" or ".", starting with a letter or digit`;
  throw configError(`Option \`${option}\` must be ${rule}; got ${JSON.stringify(value)}.`);
}

const configError = (message: string) => new ConfigurationError(BACKEND_NAME, message);
