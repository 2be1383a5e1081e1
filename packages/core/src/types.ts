/** The backend contract: what every `@resultstore/backend-*` package implements. */
import type { TaskState } from "./states.js";

/** One task's stored record: Celery's meta plus our metadata and expiry. */
export interface TaskRecord {
  taskId: string;
  status: TaskState;
  /** The decoded result (exception states hold Celery's `{exc_type, exc_message, exc_module}`). */
  result: unknown;
  traceback: string | null;
  /** Celery result tuples of spawned subtasks, e.g. `[["<id>", null], null]`. */
  children: unknown[] | null;
  /** Set for ready states only. */
  dateDone: Date | null;
  /**
   * When the record was last written, stamped by core on every write from the clock `dateDone`
   * comes from; null on records written by Celery's own backends (and by backends that do not
   * keep it yet). `find` orders and filters by the effective time, `updatedAt ?? dateDone`.
   */
  updatedAt: Date | null;
  groupId: string | null;
  parentId: string | null;
  name: string | null;
  args: unknown[] | null;
  kwargs: Record<string, unknown> | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
  /** The caller's own fields; shallow-merged by every write that carries some. */
  metadata: Record<string, unknown>;
  /** When the record stops being visible; null = never. */
  expiresAt: Date | null;
}

/** The fields a write always carries (they describe the state) and those it may carry. */
export type RequiredWriteFields =
  | "taskId"
  | "status"
  | "result"
  | "traceback"
  | "dateDone"
  | "updatedAt"
  | "expiresAt";
/** The fields a write may leave out; absent ones keep their stored values. */
export type OptionalWriteFields = Exclude<keyof TaskRecord, RequiredWriteFields>;

/**
 * One write. Optional fields that are absent keep their stored values (writes merge); `metadata`
 * is merged key by key into the stored metadata. `resultJson` is `result` already encoded by
 * core's codec, so backends need not encode it again.
 */
export type TaskWrite = Pick<TaskRecord, RequiredWriteFields> &
  Partial<Pick<TaskRecord, OptionalWriteFields>> & {
    resultJson: string;
    /**
     * Unique to one `storeResult` call and the same in every attempt `alwaysRetry` makes of it:
     * a backend that keeps the id of the write that last changed a record can answer a retry of a
     * write that already landed with `applied: true` instead of a refusal.
     */
    writeId?: string;
  };

/** What a write did: `applied: false` means the state rules refused it and nothing changed. */
export interface WriteOutcome {
  applied: boolean;
  /**
   * An earlier copy of this write may have landed and been superseded: the driver re-sent it
   * after a failed or lost answer, or the server re-ran it after a failover, and the backend
   * could not recognise its `writeId`. Core answers such a refusal with `WriteOutcomeUnknownError`.
   */
  resent?: boolean;
}

/** A saved group (Celery's GroupResult): its id and member task ids. */
export interface GroupRecord {
  groupId: string;
  taskIds: string[];
  dateDone: Date;
  expiresAt: Date | null;
}

/** What a backend declares about itself. */
export interface BackendCapabilities {
  /**
   * The database deletes expired records by itself (TTL), eventually. Informational: core hides
   * expired records on read and `cleanup()` must work either way, so the conformance suite does
   * not depend on it (a TTL sweep takes up to minutes); each backend's own tests check its value.
   */
  nativeExpiry: boolean;
  /** Largest record, as core measures it (`measureWrite`), that the backend accepts; core and the suite check it. */
  maxRecordBytes: number;
}

/**
 * Where a backend stores, for OpenTelemetry's stable database conventions: core puts these on each
 * call's span and on `db.client.operation.duration`. Informational; every field but `system` may
 * be left out when the backend does not know it (a client the caller built, say).
 */
export interface BackendTelemetry {
  /** `db.system.name`: the registered value where there is one ("mongodb", "aws.dynamodb", …). */
  readonly system: string;
  /** `db.namespace`: the database, keyspace or account the records live in. */
  readonly namespace?: string;
  /** `db.collection.name`: one table/index/prefix for everything, or one per kind of record. */
  readonly collection?:
    | string
    | Readonly<Partial<Record<"tasks" | "groups" | "counters" | "sets", string>>>;
  /** `server.address` and `server.port` of the (first) server the backend talks to. */
  readonly serverAddress?: string;
  readonly serverPort?: number;
}

/** The order `find` lists tasks in: by effective time (`updatedAt ?? dateDone`), then task id. */
export type FindOrder = "newest" | "oldest";

/**
 * A place in `find`'s order: a record's effective time (null: it has none, and sorts as the
 * oldest) and its task id, which breaks ties so the order is total. Task ids compare by Unicode
 * code point, as UTF-8 bytes compare (`comparePositions` in the toolkit).
 */
export interface TaskPosition {
  time: Date | null;
  taskId: string;
}

/**
 * What a `countByState` asks a backend for, already checked by core. A record counts when it is
 * a task record (never a group, counter, set or chord claim: ids starting `chord-claim-`), is not
 * expired at `now`, and matches every criterion given.
 */
export interface CountQuery {
  /** The task's `name` equals this. */
  name?: string;
  /**
   * Each top-level metadata key holds exactly this value: same type and value (`42` does not
   * match `"42"`, nor an array holding 42). Keys are unique and sorted.
   */
  metadata?: readonly (readonly [key: string, value: string | number | boolean])[];
  /** Effective time at or after this (a record without one never matches). */
  after?: Date;
  /** Effective time strictly before this (a record without one never matches). */
  before?: Date;
  /** Records whose `expiresAt` is at or before this are expired: never counted. */
  now: Date;
}

/**
 * What a `find` asks a backend for, already checked and resolved by core: the records that match
 * as for {@link CountQuery}, whose state is one of `states` (when given), whose effective time is
 * at most `asOf` (a record without one always is), and that come strictly after `startAfter` in
 * `order`; at most `limit` of them, in `order`.
 */
export interface FindQuery extends CountQuery {
  /** Any of these states; absent: every state. Unique. */
  states?: readonly TaskState[];
  /** The snapshot: records written after paging began (effective time after this) are left out. */
  asOf: Date;
  /** Newest first (descending position) or oldest first (ascending). */
  order: FindOrder;
  /** Only records strictly after this position in `order` (the previous page's last record). */
  startAfter?: TaskPosition;
  /** Most records to return (core asks one more than the page size, to know if another follows). */
  limit: number;
}

/** The contract. Keep it small: core supplies the rest (fallbacks, validation, retries). */
export interface ResultBackend {
  /** Short name used in errors and logs, e.g. "mongodb": the `BACKEND_NAME` its package exports. */
  readonly name: string;
  /** What the backend declares about itself (see `BackendCapabilities`). */
  readonly capabilities: BackendCapabilities;
  /** Where it stores, for telemetry (see `BackendTelemetry`); `system` defaults to `name`. */
  readonly telemetry?: BackendTelemetry;
  /** Applies `write` atomically on the server iff the state rules (`statesRefusing`) allow it. */
  write(write: TaskWrite): Promise<WriteOutcome>;
  /** The stored record, or null. May return expired records: core hides them. */
  read(taskId: string): Promise<TaskRecord | null>;
  /** Optional batch read, same order as `taskIds`; core loops `read` when absent. */
  readMany?(taskIds: readonly string[]): Promise<(TaskRecord | null)[]>;
  /** Deletes one task record (Celery's `forget`). */
  remove(taskId: string): Promise<void>;
  /** Atomically adds `by` to counter `key` (created at 0, restarted when expired); the new value. */
  incr(key: string, by: number, expiresAt: Date | null): Promise<number>;
  /** Deletes counter `key`. */
  removeCounter(key: string): Promise<void>;
  /**
   * Adds `member` to set `key` atomically and idempotently (adding a member already present changes
   * nothing; the set is created empty, and restarted empty once expired) and sets its expiry to
   * `expiresAt`; resolves the set's size after the add, read no earlier than the add landed. Sets
   * live apart from task records and counters. Core counts chord members with it, so a member
   * delivered again after a lost answer is counted once.
   */
  addToSet(key: string, member: string, expiresAt: Date | null): Promise<number>;
  /** Stores a group (Celery's `save_group`), replacing any earlier save of the same id. */
  saveGroup(group: GroupRecord): Promise<void>;
  /** The saved group, or null. May return an expired one: core hides it. */
  readGroup(groupId: string): Promise<GroupRecord | null>;
  /** Deletes a saved group (Celery's `delete_group`); absent is not an error. */
  removeGroup(groupId: string): Promise<void>;
  /** Deletes records, groups, counters and sets expired at `now`; how many it removed. */
  cleanup(now: Date): Promise<number>;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
  /** Deletes everything in this backend's namespace (tests and `resultstore conformance`). */
  destroy?(): Promise<void>;
  /** Whether a failed call may be retried safely (Celery's `exception_safe_to_retry`). */
  isRetryable?(error: unknown): boolean;
  /**
   * The task records `query` selects, in its order, at most `query.limit` (see {@link FindQuery}).
   * Optional: `ResultStore.find` on a backend without it throws `UnsupportedOperationError`.
   */
  find?(query: FindQuery): Promise<TaskRecord[]>;
  /**
   * How many task records `query` selects, by state; states with none may be left out (core adds
   * them as 0). Optional, as `find`.
   */
  countByState?(query: CountQuery): Promise<Record<TaskState, number>>;
}

/** What `createStore` passes to a backend package's `fromUrl`. */
export interface BackendUrlOptions {
  /**
   * Isolates this store's data: each backend maps it to its own unit (collection prefix, table,
   * index, key prefix, container; see the table in core's README). `destroy()` deletes that unit.
   */
  namespace?: string;
  /** Backend-specific options, passed through. */
  [option: string]: unknown;
}

/** What each `@resultstore/backend-*` package exports for `createStore`. */
export interface BackendModule {
  /**
   * The backend for `url` (Celery's URL form for that database) and `options`. One merge rule for
   * every backend (`mergeUrlOptions`): what the URL says, overridden by each option given with a
   * value; an option that is present but undefined leaves the URL's value.
   */
  fromUrl(url: string, options?: BackendUrlOptions): ResultBackend;
  /**
   * The URL schemes this package serves (`"mongodb"` also covers `mongodb+srv://`), read when the
   * module is passed to `createStore` in `backends`.
   */
  readonly schemes?: readonly string[];
}
