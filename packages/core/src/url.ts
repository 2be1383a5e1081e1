/** URL parsing shared by backends, and the redaction every error message goes through. */
import { ConfigurationError } from "./errors.js";

/** Backend package for each URL scheme (`a+b://` selects `a`, as Celery does). */
export const SCHEME_PACKAGES: Readonly<Record<string, string>> = {
  memory: "@resultstore/core",
  mongodb: "@resultstore/backend-mongo",
  cassandra: "@resultstore/backend-cassandra",
  dynamodb: "@resultstore/backend-dynamodb",
  elasticsearch: "@resultstore/backend-elasticsearch",
  opensearch: "@resultstore/backend-elasticsearch",
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

/**
 * The URL with its user part (user name and password: DynamoDB's are an access key pair) and
 * secret-looking query values replaced by `***`. Works on the text, never on a parse: a password
 * holding an unencoded "/", "?", "#" or "@" would be parsed partly as host, path or query and
 * printed back. So the user part runs to the URL's *last* "@" (over-masking an "@" in a query is
 * harmless here), and a secret query value runs to the next "&", a "#" included.
 */
export function sanitizeUrl(url: string): string {
  const withoutQuerySecrets = url.replace(
    new RegExp(`([?&](?:${SECRET_NAMES})=)[^&]*`, "gi"),
    "$1***",
  );
  const split = splitUserinfo(withoutQuerySecrets);
  if (split.userinfo === undefined) return withoutQuerySecrets;
  const masked = split.userinfo.includes(":") ? "***:***" : "***";
  return `${split.scheme}${masked}@${split.rest}`;
}

/**
 * `scheme://userinfo@rest` split at the *last* "@" (userinfo undefined without one). Base64 keys
 * (AWS secrets, Cosmos account keys) hold "/" and users paste them unencoded; read this way, no
 * part of them is taken for the host, the path or the query.
 */
export function splitUserinfo(url: string): {
  scheme: string;
  userinfo: string | undefined;
  rest: string;
} {
  // The scheme is optional: "user:pass@host" (no scheme at all) still has a user part to mask.
  const match = /^((?:[a-z][a-z0-9+.-]*:\/\/)?)(.*)@([^@]*)$/is.exec(url);
  if (!match) {
    const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? "";
    return { scheme, userinfo: undefined, rest: url.slice(scheme.length) };
  }
  return { scheme: match[1] ?? "", userinfo: match[2] ?? "", rest: match[3] ?? "" };
}

/**
 * `url` with its user name and password percent-encoded, the user info running to the last "@"
 * (see {@link splitUserinfo}); an already-encoded part is left as it is. For backends whose URLs
 * never carry an "@" after the host (DynamoDB, Cosmos DB), so that unencoded keys just work.
 */
export function encodeUserinfo(url: string): string {
  const { scheme, userinfo, rest } = splitUserinfo(url);
  if (userinfo === undefined) return url;
  const separator = userinfo.indexOf(":"); // the first ":": a password may hold more
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

/**
 * Percent-decodes a part of a URL (a user name, a password), throwing a ConfigurationError that
 * names only `what`: the URIError of a stray "%" carries no secret, but it is not a typed error.
 */
export function decodeUrlPart(text: string, what: string, backend: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConfigurationError(
      backend,
      `The URL's ${what} has a "%" that starts no valid escape: write a literal "%" as %25.`,
    );
  }
}

/**
 * Throws a ConfigurationError when `url` has an "@" after the end of its host part (the first
 * "/", "?" or "#" after "://"): a password with an unencoded "/", "?", "#" or "@" that would be
 * read partly as the path or query and reach a "bad database name" message. For backends whose
 * URLs may legitimately carry more (Mongo, Cassandra, Elasticsearch), which refuse rather than guess.
 */
export function assertUserinfoEncoded(url: string, backend: string): void {
  const afterScheme = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/is.exec(url)?.[1] ?? "";
  const hostEnd = afterScheme.search(/[/?#]/);
  if (hostEnd !== -1 && afterScheme.indexOf("@", hostEnd) !== -1) {
    throw new ConfigurationError(
      backend,
      `The URL has an "@" after its host: percent-encode the user name and password ` +
        `("/" as %2F, "?" as %3F, "#" as %23, "@" as %40): ${sanitizeUrl(url)}`,
    );
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
