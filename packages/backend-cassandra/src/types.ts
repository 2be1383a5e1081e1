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
  /**
   * The datacenter the driver routes to (required by the Node driver; Celery's Python driver
   * guesses it). A secure connect bundle names its own. @default "datacenter1"
   */
  localDataCenter?: string;
  /**
   * Keyspace holding the tables; it must exist, as in Celery. Celery: `cassandra_keyspace`.
   * @default the URL path or `?keyspace=`; without any, `namespace` names a keyspace we create.
   */
  keyspace?: string;
  /** Celery's task table. Celery: `cassandra_table`. @default "celery_taskmeta" */
  table?: string;
  /**
   * Isolation for tests, benchmarks and `resultstore conformance`: tables `<namespace>` and
   * `<namespace>_groups`/`_counters`/`_sets` in `keyspace`, or without one a keyspace
   * `<namespace>`. `destroy()` drops them. @default none
   */
  namespace?: string;
  /** Replication of a keyspace created for `namespace`. @default SimpleStrategy, factor 1 */
  keyspaceReplication?: Record<string, string | number>;
  /** Reads. Celery: `cassandra_read_consistency`. @default "LOCAL_QUORUM" (1 replica at RF 1) */
  readConsistency?: ConsistencyName;
  /** Writes, and the guard's commit. Celery: `cassandra_write_consistency`. @default "LOCAL_QUORUM" */
  writeConsistency?: ConsistencyName;
  /** Paxos phase of the guard and counters (Celery uses no LWT). @default "LOCAL_SERIAL" */
  serialConsistency?: SerialConsistencyName;
  /** PlainTextAuthProvider's user. Celery: `cassandra_auth_provider` + `cassandra_auth_kwargs`. */
  username?: string;
  /** PlainTextAuthProvider's password (Astra: the token's secret). Never shown in errors. */
  password?: string;
  /** Any driver auth provider; overrides username/password. Celery: `cassandra_auth_provider`. */
  authProvider?: auth.AuthProvider;
  /** Astra DB secure connect bundle (no contact points then). Celery: `cassandra_secure_bundle_path`. */
  secureConnectBundle?: string;
  /** Passed to `new Client()` (after ours, so they win). Celery: `cassandra_options`. */
  driverOptions?: Partial<ClientOptions>;
  /**
   * Create the tables, or add our static columns to Celery's, on first use (Celery lets writers
   * create its table); turn off where the schema is managed. @default true
   */
  createTables?: boolean;
  /**
   * Enforce the state rules with a lightweight transaction on every write. `false` opts out: a
   * plain batch, 1.5–2× faster (README), unsafe against concurrent writers. @default true
   */
  guardedWrites?: boolean;
  /**
   * Largest record (as core measures it). Cassandra refuses mutations over half the commit log
   * segment (32 MiB by default, 8 MiB on the dev server), and Paxos stores the update once more.
   * @default 3 MiB
   */
  maxRecordBytes?: number;
}
