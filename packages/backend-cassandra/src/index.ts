export { BACKEND_NAME } from "./config.js";
export { CassandraBackend, fromUrl } from "./store.js";
export type { CassandraBackendOptions, ConsistencyName, SerialConsistencyName } from "./types.js";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["cassandra"];
