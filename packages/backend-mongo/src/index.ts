import type { BackendUrlOptions } from "@resultstore/core";
import { MongoBackend } from "./store.js";
import type { MongoBackendOptions } from "./types.js";

export { BACKEND_NAME } from "./config.js";
export { MongoBackend } from "./store.js";
export type { MongoBackendOptions, MongoResultSerializer } from "./types.js";

/** `createStore("mongodb://…")` lands here: the URL as Celery accepts it, plus backend options. */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & MongoBackendOptions = {},
): MongoBackend {
  return new MongoBackend({ ...options, url });
}

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["mongodb"];
