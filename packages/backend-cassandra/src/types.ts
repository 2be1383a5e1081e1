/** Options of the Cassandra / Astra DB backend, each named after the Celery setting it mirrors. */
import type { auth, Client, ClientOptions } from "cassandra-driver";

/** Consistency levels accepted for reads and writes (Celery: a `ConsistencyLevel` attribute name). */
export type ConsistencyName =
  | "ANY"
  | "ONE"
  | "TWO"
  | "THREE"
  | "QUORUM"
  | "ALL"
  | "LOCAL_QUORUM"
  | "EACH_QUORUM"
  | "LOCAL_ONE";

/** Consistency of the Paxos phase of lightweight transactions. */
export type SerialConsistencyName = "SERIAL" | "LOCAL_SERIAL";

/** Options of {@link CassandraBackend}, each with the Celery setting it corresponds to. */
export interface CassandraBackendOptions {
  /**
   * A client you built. It is used as is (its contact points, auth and policies) and not shut down
   * by `close()` unless `closeClient` is true.
   */
  client?: Client;
  /** Shut down a caller-built `client` in `close()`. @default false */
  closeClient?: boolean;
  /** Hosts (`host` or `host:port`). Celery: `cassandra_servers`. @default the URL's hosts */
  contactPoints?: string[];
  /** Native protocol port for hosts given without one. Celery: `cassandra_port`. @default 9042 */
  port?: number;
  /**
   * The datacenter the driver routes to (the Node driver requires it; Celery's Python driver
   * guesses it). Ignored with a secure connect bundle, which names it. @default "datacenter1"
   */
  localDataCenter?: string;
  /**
   * Keyspace holding the tables; it must exist (Celery never creates keyspaces either). Celery:
   * `cassandra_keyspace`. @default the URL path or `?keyspace=`; without any, `namespace` names a
   * keyspace this store creates (tests and benchmarks only).
   */
  keyspace?: string;
  /** Celery's task table. Celery: `cassandra_table`. @default "celery_taskmeta" */
  table?: string;
  /**
   * Isolation for tests, benchmarks and `resultstore conformance`: with a keyspace, the store uses
   * tables `<namespace>`, `<namespace>_groups` and `<namespace>_counters`; without one, a keyspace
   * named `<namespace>`. `destroy()` drops them. @default none
   */
  namespace?: string;
  /** Replication of a keyspace created for `namespace`. @default SimpleStrategy, replication_factor 1 */
  keyspaceReplication?: Record<string, string | number>;
  /**
   * Reads. Celery: `cassandra_read_consistency`. On a single dev node with replication factor 1
   * LOCAL_QUORUM is one replica, so the default works there unchanged. @default "LOCAL_QUORUM"
   */
  readConsistency?: ConsistencyName;
  /** Writes (the commit phase of the guard's transaction too). Celery: `cassandra_write_consistency`. @default "LOCAL_QUORUM" */
  writeConsistency?: ConsistencyName;
  /** Paxos phase of the guard and counters (no Celery equivalent: Celery never uses LWT). @default "LOCAL_SERIAL" */
  serialConsistency?: SerialConsistencyName;
  /** Username for PlainTextAuthProvider. Celery: `cassandra_auth_provider` + `cassandra_auth_kwargs`. */
  username?: string;
  /** Password for PlainTextAuthProvider (Astra: the token's client secret). Never shown in errors. */
  password?: string;
  /** Any driver auth provider; overrides username/password. Celery: `cassandra_auth_provider`. */
  authProvider?: auth.AuthProvider;
  /** Path to an Astra DB secure connect bundle; excludes contact points. Celery: `cassandra_secure_bundle_path`. */
  secureConnectBundle?: string;
  /** Passed to `new Client()` (after ours, so they win). Celery: `cassandra_options`. */
  driverOptions?: Partial<ClientOptions>;
  /**
   * Create the tables, or add our static columns to a table Celery created, on first use.
   * Celery lets only writers create its table; turn this off where the schema is managed. @default true
   */
  createTables?: boolean;
  /**
   * Enforce the state rules with a lightweight transaction on every write. `false` is an explicit
   * opt-out: a plain batch, 1.5–2× faster (README), with neither the state rules nor the merge
   * safe against concurrent writers. @default true
   */
  guardedWrites?: boolean;
  /**
   * Largest record (as core measures it). Cassandra refuses mutations over half the commit log
   * segment (`commitlog_segment_size`, 32 MiB by default; 8 MiB on the dev server), and the
   * guard's Paxos round stores the update once more. @default 3 MiB
   */
  maxRecordBytes?: number;
}
