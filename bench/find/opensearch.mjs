// OpenSearch answers the same _search as Elasticsearch (plain HTTP, no product check).
export { createNative, storeWithoutIndexes } from "./elasticsearch.mjs";
