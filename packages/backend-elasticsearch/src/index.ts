import type { BackendUrlOptions } from "@resultstore/core";
import { ElasticsearchBackend } from "./store.js";
import type { ElasticsearchBackendOptions } from "./types.js";

export { BACKEND_NAME } from "./config.js";
export { ElasticsearchBackend } from "./store.js";
export type {
  ElasticsearchBackendOptions,
  SearchClientLike,
  SearchDriver,
  TransportParams,
} from "./types.js";

/** `createStore("elasticsearch://…")` lands here: Celery's URL plus backend options. */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & ElasticsearchBackendOptions = {},
): ElasticsearchBackend {
  return new ElasticsearchBackend({ ...options, url });
}

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["elasticsearch"];
