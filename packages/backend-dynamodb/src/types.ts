/** Options of the DynamoDB backend; each names the Celery setting it corresponds to. */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/**
 * How item ids are spelled (CELERY-COMPAT.md §4 and §5). `"celery"`: Celery's own spelling, which
 * interoperates: its DynamoDB backend calls `str()` on a bytes key, so the id attribute literally
 * holds the Python bytes repr, e.g. `b'celery-task-meta-<id>'`. `"plain"`: the key itself, e.g.
 * `celery-task-meta-<id>`: readable, but Celery will not find these items.
 */
export type DynamoDBKeyFormat = "celery" | "plain";

/** Static AWS credentials (otherwise the SDK's default provider chain is used). */
export interface DynamoDBCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options of {@link DynamoDBBackend}, each with the Celery setting it corresponds to. */
export interface DynamoDBBackendOptions {
  /**
   * A client the caller built. It is not destroyed by `close()` unless `closeClient` is true.
   * Region, endpoint and credential options are ignored when it is given.
   */
  client?: DynamoDBClient;
  /** Destroy a caller-built `client` on `close()`. @default false */
  closeClient?: boolean;
  /**
   * AWS region. Celery: the URL host (`dynamodb://key:secret@us-east-1/table`).
   * @default the SDK's default chain (AWS_REGION, profile); "us-east-1" for a local endpoint
   */
  region?: string;
  /**
   * Endpoint URL, e.g. `http://127.0.0.1:8000` for DynamoDB Local. Celery: `dynamodb_endpoint_url`,
   * or a URL host that is `localhost` or an IP address. @default AWS's endpoint for the region
   */
  endpoint?: string;
  /** Static credentials. Celery: the URL's user and password. @default the SDK's default chain */
  credentials?: DynamoDBCredentials;
  /** Table name. Celery: the URL path (`DynamoDBBackend.table_name`). @default "celery" */
  table?: string;
  /**
   * Isolates this store: the table becomes `<table>_<namespace>`. Used by tests and
   * `resultstore conformance`. Letters, digits, `_`, `-` and `.` only. @default none
   */
  namespace?: string;
  /**
   * Provisioned read capacity for a table we create. Celery: URL `?read=`. With neither this nor
   * `writeCapacityUnits` the table is created on-demand (PAY_PER_REQUEST), unlike Celery, which
   * always provisions 1/1. @default on-demand
   */
  readCapacityUnits?: number;
  /** Provisioned write capacity for a table we create. Celery: URL `?write=`. @default on-demand */
  writeCapacityUnits?: number;
  /**
   * Fixed expiry for every item, in seconds, instead of the store's `expires` (Celery's
   * `result_expires`). Celery: URL `?ttl_seconds=`. `-1` writes no `ttl` attribute and leaves the
   * table's TTL setting alone (Celery disables it; we never turn TTL off).
   * @default the store's `expires`
   */
  ttlSeconds?: number;
  /**
   * Create the table if missing and enable TTL on its `ttl` attribute (DescribeTable, CreateTable,
   * DescribeTimeToLive, UpdateTimeToLive). False needs only item-level permissions (GetItem,
   * UpdateItem, PutItem, DeleteItem, BatchGetItem, Scan) and expects the table to exist.
   * Celery always describes/creates the table. @default true
   */
  manageTable?: boolean;
  /** Key spelling; see {@link DynamoDBKeyFormat}. @default "celery" */
  keyFormat?: DynamoDBKeyFormat;
  /**
   * Prepended to every key (task, group, counter). Celery:
   * `result_backend_transport_options={"global_keyprefix": ...}`; as there, `_` is added unless
   * the prefix already ends in `:`, `_`, `-` or `.`. @default none
   */
  keyPrefix?: string;
  /** Attempts the SDK makes per call (throttling and 5xx are retried with backoff). @default 3 */
  maxAttempts?: number;
}
