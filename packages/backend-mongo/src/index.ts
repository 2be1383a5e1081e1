export { BACKEND_NAME, schemes } from "./config.js";
export { fromUrl, MongoBackend } from "./store.js";
export type { MongoBackendOptions, MongoResultSerializer } from "./types.js";
