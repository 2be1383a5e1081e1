export { BACKEND_NAME } from "./errors.js";
export { DynamoDBBackend, fromUrl } from "./store.js";
export type { DynamoDBBackendOptions, DynamoDBCredentials, DynamoDBKeyFormat } from "./types.js";
