/** Absolute path of interop/celery (the peer's cwd). */
export declare const PEER_DIR: string;
/** Absolute path of interop/celery/peer.py. */
export declare const PEER_SCRIPT: string;
/** Absolute path of interop/celery/requirements.txt. */
export declare const REQUIREMENTS: string;
/** Absolute path of interop/celery/requirements-elasticsearch7.txt (Celery + elasticsearch-py 7.13.4, for OpenSearch). */
export declare const REQUIREMENTS_ELASTICSEARCH7: string;

/** `${RESULTSTORE_CACHE_DIR:-~/.cache/resultstore}` */
export declare function cacheRoot(): string;
/** `<cacheRoot>/celery-venv-<sha256(requirements file) prefix>`; default REQUIREMENTS. */
export declare function celeryVenvDir(requirements?: string): string;

/**
 * Creates the Celery virtualenv on first use (pip install -r requirements.txt; minutes) and
 * resolves its python path; later calls (and runs) reuse it. Safe across processes (lock dir).
 */
export declare function ensureCeleryEnv(options?: {
  log?: (line: string) => void;
  /** Another pinned requirements file (e.g. REQUIREMENTS_ELASTICSEARCH7), built into its own venv. */
  requirements?: string;
}): Promise<string>;

/** The child's environment for one request (a small allow-list plus the Cosmos CA). */
export declare function peerEnv(request: PeerRequest): Record<string, string>;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ExceptionSpec {
  /** Class name, dotted for nested classes, e.g. "ValueError". */
  type: string;
  /** Module to import it from; default "builtins". */
  module?: string;
  args?: Json[];
}

export interface RequestSpec {
  /** Task name (Celery's request.task; stored as "name" with result_extended). */
  name?: string;
  id?: string;
  args?: Json[];
  kwargs?: { [key: string]: Json };
  /** Stored as "worker" with result_extended. */
  hostname?: string;
  retries?: number;
  /** routing_key is stored as "queue" with result_extended. */
  delivery_info?: { routing_key?: string | null; [key: string]: Json | undefined };
  group?: string | null;
  parent_id?: string | null;
  root_id?: string | null;
  /** Child task ids; stored as result tuples [[id, null], null]. */
  children?: string[];
  stamps?: { [key: string]: Json };
}

export type PeerOp =
  | {
      op: "store";
      task_id: string;
      state: string;
      result?: Json;
      /** Stored as a real Python exception instance (overrides result). */
      exception?: ExceptionSpec;
      traceback?: string | null;
      request?: RequestSpec;
    }
  | { op: "read"; task_id: string }
  | { op: "raw"; task_id: string }
  | { op: "forget"; task_id: string }
  | { op: "save_group"; group_id: string; task_ids: string[] }
  | { op: "restore_group"; group_id: string }
  | { op: "delete_group"; group_id: string }
  | { op: "raw_group"; group_id: string }
  /** Celery's own producer (`app.send_task`) on the request's `broker`; answers the task id. */
  | {
      op: "send_task";
      name: string;
      task_id: string;
      args?: Json[];
      kwargs?: { [key: string]: Json };
      queue?: string;
    };

export interface PeerRequest {
  /** Celery result_backend URL, e.g. "mongodb://127.0.0.1:27017". */
  url: string;
  /** Celery broker_url (send_task and the e2e worker); default memory://. */
  broker?: string;
  /** Extra Celery configuration (app.conf.update), e.g. { result_extended: true }. */
  settings?: { [key: string]: Json };
  /** Peer-only options. */
  peer?: {
    /** Default true: use https for cosmosdbsql:// on any port (Celery: only on 443). */
    cosmos_https?: boolean;
    /** CA file for the Cosmos server; default $RESULTSTORE_COSMOS_CA. */
    cosmos_ca?: string;
    /** Default true: create settings.cassandra_keyspace (SimpleStrategy, RF 1) if missing. */
    cassandra_create_keyspace?: boolean;
  };
  ops: PeerOp[];
  /** Resolve even when an op answered {error} (not sent to the peer). */
  allowErrors?: boolean;
}

export interface PeerError {
  type: string;
  module: string;
  message: string;
  status_code?: number | string;
  traceback: string;
  aws_error?: { [key: string]: Json };
}

/** What "read" answers: Celery's get_task_meta, JSON-converted, plus AsyncResult's view. */
export interface ReadResult {
  status: string;
  result: Json;
  traceback?: string | null;
  children?: Json;
  /** ISO string (converted from a datetime) or the stored string, or null. */
  date_done?: string | null;
  /** Python type of meta["date_done"] before conversion: "datetime", "str" or "NoneType". */
  date_done_type: string;
  result_type: string;
  task_id?: string;
  group_id?: string;
  parent_id?: string;
  name?: string | null;
  args?: Json;
  kwargs?: Json;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  async_result: {
    state: string;
    result: Json;
    date_done: string | null;
    date_done_type: string;
    traceback: string | null;
  };
  [key: string]: Json | undefined;
}

export interface PeerAnswer {
  /** celery.__version__ */
  celery: string;
  /** Python class name of the backend used, e.g. "MongoBackend". */
  backend: string;
  /** One entry per op, in order; an op that raised gives { error }. */
  results: Json[];
}

export declare function celeryPeer(
  request: PeerRequest,
  options?: { timeoutMs?: number; python?: string; requirements?: string },
): Promise<PeerAnswer>;

// ------------------------------------------------------------------ a real worker

export interface CeleryWorkerOptions {
  /** Celery result_backend URL, configured as the peer configures it (Cosmos subclass, Cassandra keyspace). */
  url: string;
  /** Celery broker_url, e.g. "redis://127.0.0.1:6389/0". */
  broker: string;
  /** The queue it consumes (`-Q`). */
  queue: string;
  /** Extra Celery configuration, e.g. { result_extended: true, task_track_started: true }. */
  settings?: PeerRequest["settings"];
  peer?: PeerRequest["peer"];
  /** Each line the worker logs. */
  log?: (line: string) => void;
  /**
   * Another worker app instead of interop/celery/e2e_worker.py: its module name (`-A`), the
   * directory it is imported from, and variables added to the worker's environment (e.g.
   * PYTHONPATH for a package under test). It reads `RESULTSTORE_CELERY_WORKER` as e2e_worker does.
   */
  app?: { module: string; cwd: string; env?: Record<string, string> };
}

/** The outcome of one task as the worker logged it. */
export interface WorkerTaskLog {
  /**
   * "succeeded", "raised" (the task raised), "error" (Celery itself logged an error about the task,
   * e.g. storing its result failed) or "exited" (the worker process died on it).
   */
  outcome: "succeeded" | "raised" | "error" | "exited";
  /** The worker's log lines that name the task (the log's tail for "exited"). */
  lines: string[];
}

export interface CeleryWorker {
  /** The worker's pid. */
  pid: number;
  /** Resolves once the worker has logged the end of task `taskId` (rejects after `timeoutMs`). */
  waitForTask(taskId: string, timeoutMs?: number): Promise<WorkerTaskLog>;
  /** False once the process has exited. */
  alive(): boolean;
  /** Everything logged so far. */
  output(): string;
  /** Warm shutdown (SIGTERM), SIGKILL after 10 s; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `celery worker` (solo pool, no mingle/gossip/heartbeat) from the venv, with
 * interop/celery/e2e_worker.py as its app (tasks `e2e.add(x, y)` and `e2e.fail(message)`), and
 * resolves once it logged "ready".
 */
export declare function startCeleryWorker(options: CeleryWorkerOptions): Promise<CeleryWorker>;

// ------------------------------------------------------------------ the shared interop suite

/** A nested JSON result: unicode, floats, nulls, empty containers, lists in lists. */
export declare const NESTED: { [key: string]: Json };
/** A Python traceback as a worker would store it. */
export declare const TRACEBACK: string;
/** `ValueError('boom')` as Celery's JSON serializer stores it. */
export declare const BOOM: {
  exc_type: "ValueError";
  exc_message: ["boom"];
  exc_module: "builtins";
};
/** Celery's `date_done` text as a Date (naive text means UTC); null for anything else. */
export declare function celeryDate(value: unknown): Date | null;

/** What the suite needs of the matcher it is given (Vitest's `expect` fits). */
export interface InteropMatchers {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toMatchObject(expected: object): void;
  toHaveProperty(path: string): void;
  toBeNull(): void;
  toBeInstanceOf(expected: abstract new (...args: never[]) => unknown): void;
  toBeGreaterThan(expected: number): void;
}

/** The test API the suite registers into, passed in by the caller (this package never imports Vitest). */
export interface InteropTestApi {
  describe(name: string, body: () => void): void;
  it(name: string, body: () => Promise<void> | void, timeoutMs?: number): void;
  beforeAll(body: () => Promise<void> | void, timeoutMs?: number): void;
  afterAll(body: () => Promise<void> | void, timeoutMs?: number): void;
  expect(actual: unknown): InteropMatchers;
}

/** The store under test as far as the suite's own cleanup goes (a ResultStore fits). */
export interface InteropStore {
  backend: { destroy?(): Promise<void> };
  close(): Promise<void>;
}

/** One op list sent to the peer with this backend's URL and settings. */
export interface InteropPeerOptions {
  /** Merged over the backend's settings for this request, e.g. { result_extended: true }. */
  settings?: PeerRequest["settings"];
  /** Resolve even when an op answered {error}. */
  allowErrors?: boolean;
}

export interface CeleryInteropHandle<S extends InteropStore> {
  /** The store opened by the suite's beforeAll (throws before it). */
  store(): S;
  /** Runs `ops` through Celery's backend for this store; resolves the per-op results. */
  peer(ops: PeerOp[], options?: InteropPeerOptions): Promise<Json[]>;
  /** Celery's get_task_meta (+ AsyncResult) of one task; `settings` as in peer(). */
  read(taskId: string, settings?: PeerRequest["settings"]): Promise<ReadResult>;
}

/** What `store.getMeta` resolves for this store type (TaskMeta for a ResultStore). */
export type InteropMeta<S> = S extends { getMeta(taskId: string): Promise<infer M> } ? M : unknown;

/** What a backend's check hook is given for one record. */
export interface InteropRecordCheck<S extends InteropStore>
  extends Omit<CeleryInteropHandle<S>, "store"> {
  store: S;
  taskId: string;
  /** Our getMeta of the task (a ResultStore's TaskMeta). */
  meta: InteropMeta<S>;
  /** Celery's read of the same task. */
  celery: ReadResult;
}

export interface CeleryInteropOptions<S extends InteropStore> {
  /** Shown in messages, e.g. "consul". */
  name: string;
  /** Celery's result_backend URL for the same data; a function gets the store, at each peer call. */
  celeryUrl: string | ((store: S) => string);
  /** Celery settings for every peer call (keyspace, table, collection…); a function gets the store. */
  settings?: PeerRequest["settings"] | ((store: S) => PeerRequest["settings"]);
  /** A fresh store that reads and writes where Celery does (called once, in beforeAll). */
  createStore(): Promise<S>;
  /** Runs after createStore, before any Celery write (e.g. create the table with our schema). */
  prepare?(store: S): Promise<void>;
  /** Replaces the default cleanup (`backend.destroy?.()`, then `close()`). */
  destroy?(store: S): Promise<void>;
  /** Celery stores `children` (result tuples of subtasks) and we read them. @default true */
  children?: boolean;
  /**
   * "full": a result_extended record keeps name/args/kwargs/worker/retries/queue and group/parent
   * (KV backends store Celery's whole meta); "none": Celery's backend has no such fields
   * (Cassandra's fixed columns). @default "full"
   */
  extended?: "full" | "none";
  /** Celery's backend has save_group/restore_group (Cassandra's has not). @default true */
  groups?: boolean;
  /** Python type of get_task_meta's date_done: "str" for KV backends, "datetime" for Cassandra. @default "str" */
  celeryDateDoneType?: "str" | "datetime";
  /**
   * Celery's group record carries a write time we read as the group's dateDone (Elasticsearch's
   * `@timestamp`); Celery's KV `_save_group` stores only `{"result": …}`. @default false
   */
  celeryGroupTime?: boolean;
  /**
   * Celery's read of our final SUCCESS carries the name/args/kwargs/queue given to markQueued.
   * False for DynamoDB: its `result` blob holds only the latest write's fields, and the merged
   * record lives in attributes Celery does not read. @default true
   */
  queuedFieldsInCeleryMeta?: boolean;
  /** Run the test of our state rules over records Celery wrote. @default true */
  stateRulesOverCelery?: boolean;
  /** Backend-specific checks on every record Celery wrote (raw form, TTL…). */
  checkCeleryRecord?(check: InteropRecordCheck<S>): Promise<void>;
  /** Backend-specific checks on the SUCCESS record we wrote (raw form, key order…). */
  checkOurRecord?(check: InteropRecordCheck<S>): Promise<void>;
  /** Per-test timeout. @default 240000 */
  timeoutMs?: number;
  /** Timeout of one peer process. @default 180000 */
  /** Requirements file of the Celery venv, default REQUIREMENTS (e.g. REQUIREMENTS_ELASTICSEARCH7). */
  requirements?: string;
  peerTimeoutMs?: number;
}

/**
 * Registers the shared Celery interop scenarios in the describe block it is called in, with a
 * store opened in beforeAll and closed in afterAll, and answers a handle for the backend's own
 * interop tests in the same block.
 */
export declare function celeryInteropSuite<S extends InteropStore>(
  api: InteropTestApi,
  options: CeleryInteropOptions<S>,
): CeleryInteropHandle<S>;
