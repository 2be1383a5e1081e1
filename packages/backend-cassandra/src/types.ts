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

/** Options of {@link CassandraBackend}. */
export interface CassandraBackendOptions {
  /** A client you built, used as is; `close()` leaves it open unless `closeClient`. */
  client?: Client;
  /** Shut down a caller-built `client` in `close()`. @default false */
  closeClient?: boolean;
  /** Hosts (`host` or `host:port`). Celery: `cassandra_servers`. @default the URL's hosts */
  contactPoints?: string[];
  /** Native protocol port for hosts given without one. Celery: `cassandra_port`. @default 9042 */
  port?: number;
  /** The datacenter the driver routes to (Celery's driver guesses it). @default "datacenter1" */
  localDataCenter?: string;
  /** An existing keyspace. Celery: `cassandra_keyspace`. @default the URL path or `?keyspace=` */
  keyspace?: string;
  /** Celery's task table. Celery: `cassandra_table`. @default "celery_taskmeta" */
  table?: string;
  /**
   * Isolation for tests and benchmarks: tables `<namespace>…` in `keyspace`, or else a keyspace
   * `<namespace>` we create; `destroy()` drops them (README: URL and options). @default none
   */
  namespace?: string;
  /** Replication of a keyspace created for `namespace`. @default SimpleStrategy, factor 1 */
  keyspaceReplication?: Record<string, string | number>;
  /** Reads. Celery: `cassandra_read_consistency`. @default "LOCAL_QUORUM" (1 replica at RF 1) */
  readConsistency?: ConsistencyName;
  /** Writes and the guard's commit. Celery: `cassandra_write_consistency`. @default LOCAL_QUORUM */
  writeConsistency?: ConsistencyName;
  /** Paxos phase of the guard and counters (Celery uses no LWT). @default "LOCAL_SERIAL" */
  serialConsistency?: SerialConsistencyName;
  /** PlainTextAuthProvider's user. Celery: `cassandra_auth_provider` + `cassandra_auth_kwargs`. */
  username?: string;
  /** PlainTextAuthProvider's password (Astra: the token's secret). Never shown in errors. */
  password?: string;
  /** Any driver auth provider; overrides username/password. Celery: `cassandra_auth_provider`. */
  authProvider?: auth.AuthProvider;
  /** Astra DB secure connect bundle (no contact points). Celery: `cassandra_secure_bundle_path`. */
  secureConnectBundle?: string;
  /** Passed to `new Client()` (after ours, so they win). Celery: `cassandra_options`. */
  driverOptions?: Partial<ClientOptions>;
  /** Create the tables, or add our columns to Celery's, on first use. @default true */
  createTables?: boolean;
  /**
   * Enforce the state rules with a lightweight transaction per write. `false`: a plain batch,
   * 1.5–2× faster, unsafe against concurrent writers (README: the guard's cost). @default true
   */
  guardedWrites?: boolean;
  /** Largest record, under Cassandra's mutation limit (README: Limits). @default 3 MiB */
  maxRecordBytes?: number;
}
