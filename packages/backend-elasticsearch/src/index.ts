export { BACKEND_NAME, schemes } from "./config.js";
export { ElasticsearchBackend, fromUrl } from "./store.js";
export type {
  ElasticsearchBackendOptions,
  SearchClientLike,
  SearchDriver,
  TransportParams,
} from "./types.js";
