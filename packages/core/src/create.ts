/** `createStore(url)`: picks the backend from the URL scheme and loads its package on demand. */
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
  cosmosdbsql: "@azure/cosmos",
};

export interface CreateStoreOptions extends ResultStoreOptions {
  /** Where results live. @default "memory://" */
  url?: string;
  /** Options for the backend package (see its README), plus `namespace` for isolation. */
  backendOptions?: BackendUrlOptions & MemoryBackendOptions;
}

/** Builds a store for `url` (or options). Core imports no backend until a URL asks for one. */
export async function createStore(
  urlOrOptions: string | CreateStoreOptions = "memory://",
): Promise<ResultStore> {
  const options = typeof urlOrOptions === "string" ? { url: urlOrOptions } : urlOrOptions;
  const { url = "memory://", backendOptions = {}, ...storeOptions } = options;
  const scheme = schemeOf(url);
  if (scheme === "memory") return new ResultStore(new MemoryBackend(backendOptions), storeOptions);
  const packageName = SCHEME_PACKAGES[scheme];
  if (!packageName) {
    throw new ConfigurationError(
      "core",
      `No backend for scheme "${scheme}" in ${sanitizeUrl(url)}. ` +
        `Known: ${Object.keys(SCHEME_PACKAGES).join(", ")}.`,
    );
  }
  const module = await loadBackend(packageName, scheme);
  return new ResultStore(module.fromUrl(url, backendOptions), storeOptions);
}

/** Imports a backend package; the importer is a parameter so tests can stand in for npm. */
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
      const driver = DRIVERS[scheme];
      throw new ConfigurationError(
        "core",
        `${scheme}:// URLs need ${packageName}: ` +
          `npm install ${packageName}${driver ? ` ${driver}` : ""}`,
        { cause },
      );
    }
    throw cause;
  }
  if (typeof module.fromUrl !== "function") {
    throw new ConfigurationError("core", `${packageName} does not export fromUrl(url, options).`);
  }
  return module as BackendModule;
}
