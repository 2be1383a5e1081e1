export { BACKEND_NAME, schemes } from "./config.js";
export { ConsulBackend, fromUrl } from "./store.js";
export type {
  ConsulBackendOptions,
  ConsulConsistency,
  ConsulTlsOptions,
  FetchLike,
} from "./types.js";
