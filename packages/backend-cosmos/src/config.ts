/** Celery's `cosmosdbsql://` URL and the checks every option goes through before anything connects. */
import { ConfigurationError, intOption, parseUrl, sanitizeUrl } from "@resultstore/core";
import { BACKEND_NAME } from "./errors.js";
import {
  CONSISTENCY_LEVELS,
  type CosmosBackendOptions,
  type CosmosConsistencyLevel,
  type CosmosProvisioning,
  type CosmosUrlOptions,
} from "./types.js";

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
 * `options.protocol` (default https) for every port.
 */
export function optionsFromUrl(
  rawUrl: string,
  options: CosmosUrlOptions = {},
): CosmosBackendOptions {
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
  const { protocol = "https", ...rest } = options;
  if (protocol !== "https" && protocol !== "http") {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Option \`protocol\` must be "https" or "http", got ${JSON.stringify(protocol)}.`,
    );
  }
  const key = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  const port = parsed.port || "443";
  return { ...rest, endpoint: `${protocol}://${parsed.hostname}:${port}/`, key };
}

/**
 * Account keys are base64, and users paste them raw: a "/" would end the URL's authority early
 * (Celery then fails with "Port could not be cast to integer") and defeat redaction in error
 * messages. Percent-encode the user info, leaving an already-encoded key as it is.
 */
function encodeUserinfo(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)(.*)@([^@]*)$/is.exec(url);
  if (!match) return url;
  const [, scheme, userinfo = "", rest] = match;
  const separator = userinfo.indexOf(":");
  const parts =
    separator === -1 ? [userinfo] : [userinfo.slice(0, separator), userinfo.slice(separator + 1)];
  return `${scheme}${parts.map(reencode).join(":")}@${rest}`;
}

function reencode(part: string): string {
  try {
    return encodeURIComponent(decodeURIComponent(part));
  } catch {
    return encodeURIComponent(part);
  }
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
  const consistencyLevel = options.consistencyLevel ?? "Session";
  if (!CONSISTENCY_LEVELS.includes(consistencyLevel)) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Unknown consistency level ${JSON.stringify(consistencyLevel)}; ` +
        `expected one of ${CONSISTENCY_LEVELS.join(", ")}.`,
    );
  }
  const provisioning = options.provisioning ?? "auto";
  if (provisioning !== "auto" && provisioning !== "never") {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Option \`provisioning\` must be "auto" or "never", got ${JSON.stringify(provisioning)}.`,
    );
  }
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
