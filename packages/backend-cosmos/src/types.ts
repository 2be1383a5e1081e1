/** Options of the Cosmos DB backend, each with the Celery setting it corresponds to. */
import type { Agent } from "node:https";
import type { CosmosClient, CosmosClientOptions } from "@azure/cosmos";

/** Cosmos DB consistency levels (Celery's `cosmosdbsql_consistency_level` accepts the same names). */
export const CONSISTENCY_LEVELS = [
  "Strong",
  "BoundedStaleness",
  "Session",
  "ConsistentPrefix",
  "Eventual",
] as const;
/** One of {@link CONSISTENCY_LEVELS}. */
export type CosmosConsistencyLevel = (typeof CONSISTENCY_LEVELS)[number];

/**
 * `"auto"` creates a missing database and container (with `find`'s composite indexes); `"never"`
 * only checks, for keys or roles that cannot create (the indexes are then the operator's: README
 * "Finding tasks").
 */
export type CosmosProvisioning = "auto" | "never";

/** Options of {@link CosmosBackend}. */
export interface CosmosBackendOptions {
  /** A client the caller built, used as is (endpoint, credentials, agent, retry options). */
  client?: CosmosClient;
  /** Dispose a caller-built `client` on `close()`. @default false */
  closeClient?: boolean;
  /** Account endpoint, e.g. `https://myaccount.documents.azure.com:443/` (Celery: the URL's host). */
  endpoint?: string;
  /** Account master key (Celery: the URL's password). Either this or `aadCredentials`. */
  key?: string;
  /** An `@azure/identity` credential (e.g. `DefaultAzureCredential`) instead of a key. Celery has no equivalent. */
  aadCredentials?: CosmosClientOptions["aadCredentials"];
  /** Celery's `cosmosdbsql_consistency_level`. @default "Session" */
  consistencyLevel?: CosmosConsistencyLevel;
  /** Retries of a throttled (429) request, each after the server's retry-after (Celery's `cosmosdbsql_max_retry_attempts`). @default 9 */
  maxRetryAttempts?: number;
  /** Total seconds spent waiting on 429 retries (Celery's `cosmosdbsql_max_retry_wait_time`). @default 30 */
  maxRetryWaitSeconds?: number;
  /** Celery's `cosmosdbsql_database_name`. @default "celerydb" */
  databaseName?: string;
  /** Celery's `cosmosdbsql_collection_name`. @default "celerycol" */
  containerName?: string;
  /** Isolates this store in container `<containerName>_<namespace>`, which `destroy()` deletes. */
  namespace?: string;
  /** Whether missing resources are created. No Celery equivalent (Celery always creates). @default "auto" */
  provisioning?: CosmosProvisioning;
  /** Extra CAs (PEM) only this client trusts (the emulator's). Ignored with `agent` or `client`. */
  ca?: string | Buffer | (string | Buffer)[];
  /** An `https.Agent` for this client's connections (proxy, keep-alive, CA). */
  agent?: Agent;
  /** How many tasks' last ETags are kept, so a write after this process's own read or write is one request (0: none). @default 1000 */
  etagCacheSize?: number;
}

/** What `fromUrl` accepts beside the URL. */
export interface CosmosUrlOptions extends Omit<CosmosBackendOptions, "endpoint" | "key"> {
  /** Scheme of the URL's host (Celery uses http off port 443; the emulator speaks HTTPS on 8081). @default "https" */
  protocol?: "https" | "http";
}
