export { BACKEND_NAME, schemes } from "./config.js";
export { DynamoDBBackend, fromUrl } from "./store.js";
export type { DynamoDBBackendOptions, DynamoDBCredentials, DynamoDBKeyFormat } from "./types.js";
