export { BACKEND_NAME, schemes } from "./config.js";
export { CosmosBackend, fromUrl } from "./store.js";
export {
  CONSISTENCY_LEVELS,
  type CosmosBackendOptions,
  type CosmosConsistencyLevel,
  type CosmosProvisioning,
  type CosmosUrlOptions,
} from "./types.js";
