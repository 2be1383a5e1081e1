/** Options of the DynamoDB backend; each names the Celery setting it corresponds to. */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/** Id spelling: `"celery"`, Python's bytes repr as Celery writes it, or `"plain"` (see README). */
export type DynamoDBKeyFormat = "celery" | "plain";

/** Static AWS credentials (otherwise the SDK's default provider chain is used). */
export interface DynamoDBCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options of {@link DynamoDBBackend}; README "URL and options" has them as a table. */
export interface DynamoDBBackendOptions {
  /** A client the caller built; region, endpoint and credentials are then ignored. */
  client?: DynamoDBClient;
  /** Destroy a caller-built `client` on `close()`. @default false */
  closeClient?: boolean;
  /** AWS region; Celery: the URL host. @default the SDK's chain ("us-east-1" for a local URL) */
  region?: string;
  /** Endpoint URL; Celery: `dynamodb_endpoint_url`, or a local URL host. @default AWS's */
  endpoint?: string;
  /** Static credentials; Celery: the URL's user and password. @default the SDK's default chain */
  credentials?: DynamoDBCredentials;
  /** Table name; Celery: the URL path. @default "celery" */
  table?: string;
  /** Isolation for tests: the table becomes `<table>_<namespace>`. @default none */
  namespace?: string;
  /** Provisioned read capacity of a table we create; Celery: `?read=`. @default on-demand */
  readCapacityUnits?: number;
  /** Provisioned write capacity of a table we create; Celery: `?write=`. @default on-demand */
  writeCapacityUnits?: number;
  /** Fixed item expiry in seconds, -1 for none; Celery: `?ttl_seconds=`. @default `expires` */
  ttlSeconds?: number;
  /** Create the table and enable TTL on `ttl`; false: it must exist (see README). @default true */
  manageTable?: boolean;
  /**
   * Create the two indexes `find` and `countByState` query when we provision the table (README
   * "Finding tasks"), adding them to a table an older version made; false: none, and `find`
   * fails until an operator creates them. Ignored with `manageTable: false`. @default true
   */
  findIndexes?: boolean;
  /** Key spelling; see {@link DynamoDBKeyFormat}. @default "celery" */
  keyFormat?: DynamoDBKeyFormat;
  /** Prefix of every key; Celery: `global_keyprefix` (`_` added as there). @default none */
  keyPrefix?: string;
  /** Attempts the SDK makes per call (throttling and 5xx are retried with backoff). @default 3 */
  maxAttempts?: number;
}
