/** Options and Celery's `consul://` URL, resolved and validated into one readonly config. */
import { ConfigurationError } from "@resultstore/core";
import {
  decodeUrlPart,
  emitWarningOnce,
  enumOption,
  intOption,
  parseUrl,
  sanitizeUrl,
} from "@resultstore/core/backend";
import type { ConsulBackendOptions, ConsulConsistency } from "./types.js";

/** The backend's name in errors and logs: `[resultstore] [consul] …`. */
export const BACKEND_NAME = "consul";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["consul"];

/** Longest key prefix we accept, so the longest key stays far below any Consul limit. */
const MAX_PREFIX_BYTES = 256;

/** The complete config a `ConsulBackend` is built from: every option resolved and checked. */
export type ResolvedConfig = Readonly<ReturnType<typeof resolveConfig>>;

const CONSISTENCIES: readonly ConsulConsistency[] = ["default", "consistent", "stale"];
const SCHEMES = ["http", "https"] as const;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
const FORBIDDEN_IN_SEGMENT = /[\u0000-\u001f\u007f\\?#]/;

const invalid = (message: string): never => {
  throw new ConfigurationError(BACKEND_NAME, message);
};

/** Throws unless `prefix` is slash-separated segments, none empty, `.` or `..`. */
function validatePrefix(prefix: string, what: string): void {
  const fail = (why: string) => invalid(`Invalid ${what} ${JSON.stringify(prefix)}: ${why}.`);
  if (prefix === "") return;
  if (prefix.startsWith("/")) fail("it must not start with /");
  if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES)
    fail(`it is longer than ${MAX_PREFIX_BYTES} bytes`);
  for (const segment of prefix.split("/")) {
    if (segment === "") fail("it has an empty segment (// or a trailing /)");
    if (segment === "." || segment === "..") fail("it has a . or .. segment");
    if (FORBIDDEN_IN_SEGMENT.test(segment)) fail("it has a control character or one of \\ ? #");
  }
}

/** `prefix` and `namespace` joined into the string put before every key: "" or "a/b/". */
export function keyPrefixOf(prefix: string, namespace: string | undefined): string {
  // Our own option may end in one "/" ("celery/"); the URL path may not (see optionsFromUrl).
  const base = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  validatePrefix(base, "prefix");
  if (namespace !== undefined) validatePrefix(namespace, "namespace");
  const joined = [base, namespace ?? ""].filter((part) => part !== "").join("/");
  if (Buffer.byteLength(joined) > MAX_PREFIX_BYTES)
    invalid(`prefix + namespace is longer than ${MAX_PREFIX_BYTES} bytes.`);
  return joined === "" ? "" : `${joined}/`;
}

export function resolveConfig(options: ConsulBackendOptions) {
  const scheme = enumOption(options.scheme, SCHEMES, "scheme", BACKEND_NAME) ?? "http";
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || host === "" || /[/\s@?#]/.test(host))
    invalid(`Option \`host\` is not a host name: ${JSON.stringify(host)}.`);
  const port = intOption(options.port, "port", BACKEND_NAME, 1) ?? 8500;
  if (port > 65_535) invalid(`Option \`port\` must be <= 65535, got ${port}.`);
  if (options.fetch !== undefined && typeof options.fetch !== "function")
    invalid("Option `fetch` must be a fetch-compatible function.");
  const node = options.sessionNode === "" ? undefined : options.sessionNode;
  if (node !== undefined && (typeof node !== "string" || !/^[A-Za-z0-9_.-]{1,253}$/.test(node)))
    invalid(`Option \`sessionNode\` is not a node name: ${JSON.stringify(node)}.`);
  const bracketed = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return {
    baseUrl: `${scheme}://${bracketed}:${port}`,
    scheme,
    host,
    port,
    tls: options.tls ?? {},
    token: options.token || undefined,
    datacenter: options.datacenter || undefined,
    consistency:
      enumOption(options.consistency, CONSISTENCIES, "consistency", BACKEND_NAME) ?? "consistent",
    keyPrefix: keyPrefixOf(options.prefix ?? "", options.namespace),
    fetch: options.fetch,
    requestTimeoutMs:
      intOption(options.requestTimeoutMs, "requestTimeoutMs", BACKEND_NAME, 1) ?? 10_000,
    maxCasAttempts: intOption(options.maxCasAttempts, "maxCasAttempts", BACKEND_NAME, 1) ?? 200,
    sessionExpiry: options.sessionExpiry ?? true,
    sessionNode: node,
    warn: options.warn ?? emitWarningOnce,
  };
}

/** Celery's `consul://host:port[/path][?one_client=1]`, plus our extras (README's option table). */
export function optionsFromUrl(url: string): ConsulBackendOptions {
  const parsed = parseUrl(url, BACKEND_NAME);
  const scheme = parsed.protocol.replace(/:$/, "").toLowerCase();
  if (scheme !== "consul" && scheme !== "consul+http" && scheme !== "consul+https")
    invalid(`Expected a consul:// URL, got ${sanitizeUrl(url)}.`);
  // The path as written: WHATWG URL parsing would resolve "a/../b" to "b", while Celery (kombu)
  // keeps it verbatim in its keys. Validate what Celery would use.
  const rawPath = /^[^:]+:\/\/[^/?#]*\/?([^?#]*)/.exec(url)?.[1] ?? "";
  const path = decodeUrlPart(rawPath, "path", BACKEND_NAME);
  // Celery would build "<path>/" + "/" + key: an empty segment. Refuse rather than diverge.
  if (path.endsWith("/")) invalid(`The URL path must not end with /: ${sanitizeUrl(url)}.`);
  validatePrefix(path, "URL path");
  const query = parsed.searchParams;
  return {
    scheme: scheme === "consul+https" ? "https" : "http",
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1") || undefined,
    port: parsed.port ? Number(parsed.port) : undefined,
    prefix: path,
    datacenter: query.get("dc") ?? undefined,
    consistency: (query.get("consistency") as ConsulConsistency | null) ?? undefined,
    token: query.get("token") ?? undefined,
  };
}
