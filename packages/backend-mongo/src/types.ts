import type { MongoClient, MongoClientOptions } from "mongodb";

/** How the task's `result` field is stored. */
export type MongoResultSerializer = "json" | "bson";

/** Options of {@link MongoBackend}, each with the Celery setting it corresponds to. */
export interface MongoBackendOptions {
  /**
   * `mongodb://[user:pw@]host[:port][,host2…][/database][?options]` or `mongodb+srv://…`; a bare
   * `mongodb://` means localhost (Celery's `result_backend`). Give this or `client`.
   */
  url?: string;
  /** A client the caller built and owns: used as it is, closed only with `closeClient`. */
  client?: MongoClient;
  /** Close a caller-built `client` on `close()`. @default false */
  closeClient?: boolean;
  /** Options for the client built from `url` (Celery's `mongodb_backend_settings["options"]`). */
  clientOptions?: MongoClientOptions;
  /**
   * Database name; wins over the URL's path (Celery's `mongodb_backend_settings["database"]`).
   * @default the URL's path, else "celery"
   */
  database?: string;
  /**
   * Collection-name prefix isolating this store (`<namespace>_taskmeta`, `_groupmeta`, `_counters`,
   * `_sets`); used by tests and `resultstore conformance`. @default "celery" (Celery's own names)
   */
  namespace?: string;
  /** Task collection (Celery's `mongodb_backend_settings["taskmeta_collection"]`). @default "<namespace>_taskmeta" */
  taskmetaCollection?: string;
  /** Group collection (Celery's `mongodb_backend_settings["groupmeta_collection"]`). @default "<namespace>_groupmeta" */
  groupmetaCollection?: string;
  /** Counter collection for `incr` (Celery's Mongo backend has none). @default "<namespace>_counters" */
  countersCollection?: string;
  /** Set collection for `addToSet`, which counts chord members (Celery has none). @default "<namespace>_sets" */
  setsCollection?: string;
  /**
   * `"json"` stores `result` as the JSON text Celery's JSON serializer writes, which every Celery
   * reads. `"bson"` stores a native BSON value you can query (datetimes as BSON dates), as Celery
   * does with `result_serializer = "bson"`; only Celery apps configured so read it.
   * @default "json" (Celery's `result_serializer`)
   */
  resultSerializer?: MongoResultSerializer;
  /**
   * Seconds after `date_done` that a document without our `expires_at` (one Celery wrote) expires,
   * for reads and `cleanup()`; null keeps those forever. Celery's `result_expires`. @default 86400
   */
  resultExpires?: number | null;
  /**
   * TTL indexes (`expireAfterSeconds: 0` on `expires_at`), so MongoDB deletes expired documents
   * itself within about a minute; engines without them (FerretDB) get a plain index. @default false
   */
  ttlIndex?: boolean;
  /**
   * Create the indexes on first use: Celery's `date_done`, `expires_at` (TTL with `ttlIndex`) and
   * `find`'s (README, "Finding tasks"). `false` leaves them to the operator, who creates exactly
   * those the README lists; the backend then sends no `createIndex`. @default true
   */
  createIndexes?: boolean;
  /**
   * With `createIndexes`, also a wildcard index on `metadata.$**` for `find`'s metadata filters,
   * where the engine has wildcard indexes (MongoDB 4.2+; not FerretDB 1.x, whose inserts fail
   * once one exists). Every metadata key a write carries is then indexed: its write cost is in
   * the README. @default true
   */
  metadataIndex?: boolean;
  /** Documents `cleanup()` deletes per batch. @default 1000 */
  cleanupBatchSize?: number;
  /** Where the unsafe-engine warning (FerretDB 1.x) goes, once per store. @default process.emitWarning, once per process */
  warn?: (message: string) => void;
}
