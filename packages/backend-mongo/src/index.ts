export { BACKEND_NAME } from "./config.js";
export { fromUrl, MongoBackend } from "./store.js";
export type { MongoBackendOptions, MongoResultSerializer } from "./types.js";
