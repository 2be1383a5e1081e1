/** Absolute path of interop/celery (the peer's cwd). */
export declare const PEER_DIR: string;
/** Absolute path of interop/celery/peer.py. */
export declare const PEER_SCRIPT: string;
/** Absolute path of interop/celery/requirements.txt. */
export declare const REQUIREMENTS: string;

/** `${RESULTSTORE_CACHE_DIR:-~/.cache/resultstore}` */
export declare function cacheRoot(): string;
/** `<cacheRoot>/celery-venv-<sha256(requirements.txt) prefix>` */
export declare function celeryVenvDir(): string;

/**
 * Creates the Celery virtualenv on first use (pip install -r requirements.txt; minutes) and
 * resolves its python path; later calls (and runs) reuse it. Safe across processes (lock dir).
 */
export declare function ensureCeleryEnv(options?: {
  log?: (line: string) => void;
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
  | { op: "raw_group"; group_id: string };

export interface PeerRequest {
  /** Celery result_backend URL, e.g. "mongodb://127.0.0.1:27017". */
  url: string;
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
  options?: { timeoutMs?: number; python?: string },
): Promise<PeerAnswer>;
