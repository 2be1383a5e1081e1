export { BACKEND_NAME } from "./config.js";
export { CosmosBackend, fromUrl } from "./store.js";
export type {
  CosmosBackendOptions,
  CosmosConsistencyLevel,
  CosmosProvisioning,
  CosmosUrlOptions,
} from "./types.js";
