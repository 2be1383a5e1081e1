import type { BackendUrlOptions } from "@resultstore/core";
import { optionsFromUrl } from "./config.js";
import { CosmosBackend } from "./store.js";
import type { CosmosUrlOptions } from "./types.js";

export { BACKEND_NAME } from "./errors.js";
export { CosmosBackend } from "./store.js";
export type {
  CosmosBackendOptions,
  CosmosConsistencyLevel,
  CosmosProvisioning,
  CosmosUrlOptions,
} from "./types.js";
export { CONSISTENCY_LEVELS } from "./types.js";

/** `cosmosdbsql://:<key>@host[:port]` (Celery's URL) plus options, for `createStore`. */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & CosmosUrlOptions = {},
): CosmosBackend {
  return new CosmosBackend(optionsFromUrl(url, options));
}

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["cosmosdbsql"];
