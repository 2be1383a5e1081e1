export { BACKEND_NAME, schemes } from "./config.js";
export { CosmosBackend, fromUrl } from "./store.js";
export type {
  CosmosBackendOptions,
  CosmosConsistencyLevel,
  CosmosProvisioning,
  CosmosUrlOptions,
} from "./types.js";
export { CONSISTENCY_LEVELS } from "./types.js";
