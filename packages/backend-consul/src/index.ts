export { BACKEND_NAME } from "./config.js";
export { ConsulBackend, fromUrl } from "./store.js";
export type {
  ConsulBackendOptions,
  ConsulConsistency,
  ConsulTlsOptions,
  FetchLike,
} from "./types.js";
