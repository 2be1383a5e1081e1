export { BACKEND_NAME, schemes } from "./config.js";
export { guardControlRefresh } from "./control-refresh.js";
export { CassandraBackend, fromUrl } from "./store.js";
export type { CassandraBackendOptions, ConsistencyName, SerialConsistencyName } from "./types.js";
