export { BACKEND_NAME } from "./config.js";
export { ConsulBackend, fromUrl } from "./store.js";
export type {
  ConsulBackendOptions,
  ConsulConsistency,
  ConsulTlsOptions,
  FetchLike,
} from "./types.js";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["consul"];
