export { guardControlRefresh } from "./client.js";
export { BACKEND_NAME, schemes } from "./config.js";
export { CassandraBackend, fromUrl } from "./store.js";
export type { CassandraBackendOptions, ConsistencyName, SerialConsistencyName } from "./types.js";
