/** Options of the Cosmos DB backend; each names the Celery setting it corresponds to. */
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
 * How the database and container come to exist.
 * - `"auto"`: read the container once; if it is missing, create the database and the container
 *   (tolerating a concurrent creator's 409), with `defaultTtl: -1` so per-item `ttl` expires records.
 * - `"never"`: only check that the container exists; for accounts whose key or role cannot create
 *   resources (Entra ID data-plane roles never can).
 */
export type CosmosProvisioning = "auto" | "never";

/** Options of {@link CosmosBackend}, each with the Celery setting it corresponds to. */
export interface CosmosBackendOptions {
  /**
   * A client the caller built. It is used as is (its endpoint, credentials, agent and retry
   * options) and is not disposed by `close()` unless `closeClient` is true.
   */
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
  /**
   * Isolates this store: its records live in container `<containerName>_<namespace>`, which
   * `destroy()` deletes. Letters, digits, `_`, `-` and `.` only. No Celery equivalent.
   */
  namespace?: string;
  /** Whether missing resources are created. No Celery equivalent (Celery always creates). @default "auto" */
  provisioning?: CosmosProvisioning;
  /**
   * Extra certificate authorities (PEM) this client trusts, e.g. the emulator's self-signed
   * certificate. Only this client's connections are affected. Ignored when `agent` or `client` is given.
   */
  ca?: string | Buffer | (string | Buffer)[];
  /** An `https.Agent` for this client's connections (proxy, keep-alive, CA). */
  agent?: Agent;
  /**
   * How many tasks' last-seen ETags this process remembers, so a write that follows this process's
   * own read or write is one conditional request. 0 turns the cache off. @default 1000
   */
  etagCacheSize?: number;
}

/** What `fromUrl` accepts beside the URL. */
export interface CosmosUrlOptions extends Omit<CosmosBackendOptions, "endpoint" | "key"> {
  /**
   * Scheme used to reach the URL's host. Celery uses https only for port 443 and http for any
   * other port; the emulator and most test servers speak HTTPS on 8081, so we default to https.
   * @default "https"
   */
  protocol?: "https" | "http";
}
