/**
 * `createStore(url)`: picks the backend from the URL scheme. Bundles pass the backend modules in
 * (`backends`); plain Node may instead let core import the package on demand.
 */
import { ConfigurationError } from "./errors.js";
import { MemoryBackend, type MemoryBackendOptions } from "./memory.js";
import { ResultStore, type ResultStoreOptions } from "./store.js";
import type { BackendModule, BackendUrlOptions } from "./types.js";
import { SCHEME_PACKAGES, sanitizeUrl, schemeOf } from "./url.js";

/** The database driver each backend package needs beside it (its peer dependency). */
const DRIVERS: Readonly<Record<string, string>> = {
  mongodb: "mongodb",
  cassandra: "cassandra-driver",
  dynamodb: "@aws-sdk/client-dynamodb",
  elasticsearch: "@elastic/elasticsearch",
  opensearch: "@opensearch-project/opensearch",
  cosmosdbsql: "@azure/cosmos",
};

/** What `createStore` accepts besides the URL. */
export interface CreateStoreOptions extends ResultStoreOptions {
  /** Where results live. @default "memory://" */
  url?: string;
  /** Options for the backend package (see its README), plus `namespace` for isolation. */
  backendOptions?: BackendUrlOptions & MemoryBackendOptions;
  /**
   * The backend packages this program may use, imported by the caller, e.g.
   * `import * as dynamodb from "@resultstore/backend-dynamodb"` then `{ backends: [dynamodb] }`.
   * A bundler sees these imports and includes them; core then imports nothing by name. When
   * given, a URL whose scheme no listed module handles is an error (there is no fallback).
   * When absent, core imports the scheme's package on demand, which works in plain Node only.
   */
  backends?: readonly BackendModule[];
}

/**
 * Builds a store for `url` (or options). Core imports no backend until a URL asks for one, and
 * none at all when `backends` is given.
 *
 * @example
 * ```ts
 * import { createStore } from "@resultstore/core";
 * import * as dynamodb from "@resultstore/backend-dynamodb";
 * const store = await createStore("dynamodb://127.0.0.1:8000/results", { backends: [dynamodb] });
 * ```
 */
export async function createStore(
  urlOrOptions: string | CreateStoreOptions = "memory://",
  moreOptions: CreateStoreOptions = {},
): Promise<ResultStore> {
  const options =
    typeof urlOrOptions === "string"
      ? { ...moreOptions, url: urlOrOptions }
      : { ...moreOptions, ...urlOrOptions };
  const { url = "memory://", backendOptions = {}, backends, ...storeOptions } = options;
  const scheme = schemeOf(url);
  if (scheme === "memory") return new ResultStore(new MemoryBackend(backendOptions), storeOptions);
  const module = backends
    ? pickBackend(backends, scheme, url)
    : await loadBackend(knownPackage(scheme, url), scheme);
  return new ResultStore(module.fromUrl(url, backendOptions), storeOptions);
}

function knownPackage(scheme: string, url: string): string {
  const packageName = SCHEME_PACKAGES[scheme];
  if (!packageName) {
    throw new ConfigurationError(
      "core",
      `No backend for scheme "${scheme}" in ${sanitizeUrl(url)}. ` +
        `Known: ${Object.keys(SCHEME_PACKAGES).join(", ")}.`,
    );
  }
  return packageName;
}

/** The module among `backends` that declares `scheme`. */
function pickBackend(
  backends: readonly BackendModule[],
  scheme: string,
  url: string,
): BackendModule {
  for (const module of backends) {
    if (typeof module?.fromUrl !== "function" || !Array.isArray(module.schemes)) {
      throw new ConfigurationError(
        "core",
        "Each entry of `backends` must be a backend package's module " +
          '(`import * as mongo from "@resultstore/backend-mongo"`), with `fromUrl` and `schemes`.',
      );
    }
  }
  const found = backends.find((m) => m.schemes?.includes(scheme));
  if (found) return found;
  const packageName = SCHEME_PACKAGES[scheme];
  throw new ConfigurationError(
    "core",
    `None of the ${backends.length} modules in \`backends\` handles ${scheme}:// ` +
      `(${sanitizeUrl(url)}). ` +
      (packageName
        ? `Add it: import * as ${scheme} from "${packageName}"; createStore(url, { backends: [${scheme}] }).`
        : `Known schemes: ${Object.keys(SCHEME_PACKAGES).join(", ")}.`),
  );
}

/**
 * Imports a backend package by name; the importer is a parameter so tests can stand in for npm.
 * A missing module is named: the backend package itself, or the driver it imports.
 */
export async function loadBackend(
  packageName: string,
  scheme: string,
  importer: (name: string) => Promise<unknown> = (name) => import(name),
): Promise<BackendModule> {
  let module: Partial<BackendModule>;
  try {
    module = (await importer(packageName)) as Partial<BackendModule>;
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new ConfigurationError("core", missingModuleHint(packageName, scheme, cause), {
        cause,
      });
    }
    throw cause;
  }
  if (typeof module.fromUrl !== "function") {
    throw new ConfigurationError("core", `${packageName} does not export fromUrl(url, options).`);
  }
  return module as BackendModule;
}

/** Node names the module it could not find; say which one, and how to get it. */
function missingModuleHint(packageName: string, scheme: string, cause: unknown): string {
  const message = String((cause as Error)?.message ?? "");
  const named = /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1];
  const missing = named ? packageOf(named) : packageName;
  const driver = DRIVERS[scheme];
  const bundleHint =
    ` (In a bundle, import the backend yourself and pass it: ` +
    `createStore(url, { backends: [await import("${packageName}")] }).)`;
  if (missing !== packageName) {
    return (
      `${scheme}:// URLs need ${packageName} and its driver; ${packageName} is installed but ` +
      `the module "${missing}" is missing: npm install ${missing}`
    );
  }
  return (
    `${scheme}:// URLs need the module "${packageName}", which is not installed: ` +
    `npm install ${packageName}${driver ? ` ${driver}` : ""}.${bundleHint}`
  );
}

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`; a file path stays as it is. */
function packageOf(specifier: string): string {
  if (specifier.startsWith(".") || specifier.startsWith("/")) return specifier;
  const parts = specifier.split("/");
  return (specifier.startsWith("@") ? parts.slice(0, 2) : parts.slice(0, 1)).join("/");
}
