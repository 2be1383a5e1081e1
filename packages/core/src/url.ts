/** URL parsing shared by backends, and the redaction every error message goes through. */
import { ConfigurationError } from "./errors.js";

/** Backend package for each URL scheme (`a+b://` selects `a`, as Celery does). */
export const SCHEME_PACKAGES: Readonly<Record<string, string>> = {
  memory: "@resultstore/core",
  mongodb: "@resultstore/backend-mongo",
  cassandra: "@resultstore/backend-cassandra",
  dynamodb: "@resultstore/backend-dynamodb",
  elasticsearch: "@resultstore/backend-elasticsearch",
  consul: "@resultstore/backend-consul",
  cosmosdbsql: "@resultstore/backend-cosmos",
};

/** The backend scheme of `url`: `mongodb+srv://…` → "mongodb", `elasticsearch+https://…` → "elasticsearch". */
export function schemeOf(url: string): string {
  const match = /^([a-z][a-z0-9]*)(?:\+[a-z0-9]+)?:\/\//i.exec(url);
  if (!match?.[1]) {
    throw new ConfigurationError("core", `Not a result-store URL: ${sanitizeUrl(url)}`);
  }
  return match[1].toLowerCase();
}

const SECRET_NAMES =
  "password|pass|pwd|secret|key|token|apikey|api_key|accesskey|masterkey|sig|signature|credentials?";
const SECRET_PARAMS = new RegExp(`^(?:${SECRET_NAMES})$`, "i");

/**
 * The URL with its user part (user name and password: DynamoDB's are an access key pair) and
 * secret-looking query values replaced by `***`.
 */
export function sanitizeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username) parsed.username = "***";
    if (parsed.password) parsed.password = "***";
    for (const key of [...parsed.searchParams.keys()]) {
      if (SECRET_PARAMS.test(key)) parsed.searchParams.set(key, "***");
    }
    return parsed.toString();
  } catch {
    // Unparseable: blank out the user-info part and every secret-looking query value by hand.
    return url
      .replace(/(:\/\/)[^@?#]*@/, "$1***@") // greedy: base64 keys may contain "/"
      .replace(new RegExp(`([?&](?:${SECRET_NAMES})=)[^&#]*`, "gi"), "$1***");
  }
}

/**
 * Parses `url`, throwing a ConfigurationError that names the backend and never the password —
 * neither in its message nor in its cause: Node's URL `TypeError` carries the raw URL in `input`.
 */
export function parseUrl(url: string, backend: string): URL {
  try {
    return new URL(url);
  } catch (error) {
    throw new ConfigurationError(
      backend,
      `Malformed URL (check host and port): ${sanitizeUrl(url)}`,
      { cause: redactedUrlError(error, url) },
    );
  }
}

/**
 * A copy of a URL parser's error that is safe to attach as a cause: the same name, message and
 * code, with `input` (and any copy of `url` or its secrets in the message) replaced by the
 * sanitized URL.
 */
export function redactedUrlError(error: unknown, url: string): Error {
  const safeUrl = sanitizeUrl(url);
  const original = error instanceof Error ? error : new Error(String(error));
  const copy = new (original instanceof TypeError ? TypeError : Error)(
    original.message.split(url).join(safeUrl),
  );
  const code = (original as { code?: unknown }).code;
  return Object.assign(copy, code === undefined ? {} : { code }, { input: safeUrl });
}

/** Parses a whole-number option (from a URL query or options), with a clear error. */
export function intOption(
  value: unknown,
  name: string,
  backend: string,
  min = 0,
): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new ConfigurationError(
      backend,
      `Option \`${name}\` must be an integer >= ${min}, got ${JSON.stringify(value)}.`,
    );
  }
  return n;
}

/** Checks a choice among `allowed` (from a URL query or options), with a clear error. */
export function enumOption<T extends string>(
  value: unknown,
  allowed: readonly T[],
  name: string,
  backend: string,
): T | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw new ConfigurationError(
      backend,
      `Option \`${name}\` must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(value)}.`,
    );
  }
  return value as T;
}

/**
 * `fromUrl`'s one merge rule (see `BackendModule`): what the URL says, overridden by every option
 * given with a value (an option present but undefined leaves the URL's value).
 */
export function mergeUrlOptions<T extends object>(fromUrl: T, options: object): T {
  const merged: Record<string, unknown> = { ...(fromUrl as Record<string, unknown>) };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) merged[key] = value;
  return merged as T;
}
