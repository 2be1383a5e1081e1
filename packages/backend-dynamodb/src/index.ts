export { BACKEND_NAME } from "./errors.js";
export { DynamoDBBackend, fromUrl } from "./store.js";
export type { DynamoDBBackendOptions, DynamoDBCredentials, DynamoDBKeyFormat } from "./types.js";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["dynamodb"];
