/** `DynamoDBBackend`: task results in Celery's DynamoDB item layout, guarded on the server. */
import {
  DeleteItemCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  type BackendCapabilities,
  type BackendUrlOptions,
  ConfigurationError,
  type GroupRecord,
  intOption,
  type ResultBackend,
  StoreClosedError,
  type TaskRecord,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import { batchGet, deleteExpired } from "./bulk.js";
import { increment } from "./counter.js";
import {
  BACKEND_NAME,
  errorName,
  ITEM_LIMIT_BYTES,
  isRetryableError,
  wrapError,
} from "./errors.js";
import { ATTR, groupFromItem, groupItem, type Item, recordFromItem } from "./item.js";
import { KeyBuilder } from "./keys.js";
import { ensureTable } from "./table.js";
import type { DynamoDBBackendOptions } from "./types.js";
import { optionsFromUrl } from "./url.js";
import { TaskWriter } from "./write.js";

/**
 * The largest record core may hand us: DynamoDB's 400 KB item minus what an item holds beside the
 * meta JSON core measures (the key, up to ~850 bytes for a 200-byte non-ASCII id in Celery's
 * bytes repr, plus attribute names, `status`, `timestamp` and `ttl`), rounded up to 2 KiB. Optional
 * fields (args, kwargs, children…) are kept twice, in the blob and in their own attributes, so a
 * write whose extended fields are large is checked again, exactly, before it is sent.
 */
const MAX_RECORD_BYTES = ITEM_LIMIT_BYTES - 2048;

const DEFAULT_TABLE = "celery";
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const KEY_FORMATS = new Set(["celery", "plain"]);

/** The DynamoDB backend: Celery's item layout, conditional UpdateItem for the state rules, native TTL. */
export class DynamoDBBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  /** The table this backend reads and writes. */
  readonly table: string;
  private readonly options: DynamoDBBackendOptions;
  private readonly keys: KeyBuilder;
  private client: DynamoDBClient | null;
  private writer: TaskWriter | null = null;
  private ready: Promise<DynamoDBClient> | null = null;
  private closed = false;

  constructor(options: DynamoDBBackendOptions = {}) {
    this.options = validateOptions(options);
    const base = options.table ?? DEFAULT_TABLE;
    this.table = options.namespace ? `${base}_${options.namespace}` : base;
    if (!TABLE_NAME.test(this.table)) {
      throw new ConfigurationError(
        BACKEND_NAME,
        `Table name ${JSON.stringify(this.table)} is not a valid DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .).`,
      );
    }
    this.keys = new KeyBuilder(options.keyFormat ?? "celery", options.keyPrefix);
    this.client = options.client ?? null;
    this.capabilities = {
      nativeExpiry: options.ttlSeconds !== -1,
      maxRecordBytes: MAX_RECORD_BYTES,
    };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    await this.connect();
    return (this.writer as TaskWriter).write(this.keys.task(write.taskId), {
      ...write,
      expiresAt: this.expiry(write.expiresAt),
    });
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const item = await this.getItem(this.keys.task(taskId), `Reading task ${taskId}`);
    return item ? recordFromItem(item, taskId) : null;
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const client = await this.connect();
    const ids = taskIds.map((taskId) => this.keys.task(taskId));
    const items = await batchGet(client, this.table, ids);
    return taskIds.map((taskId, i) => {
      const item = items.get(ids[i] as string);
      return item ? recordFromItem(item, taskId) : null;
    });
  }

  async remove(taskId: string): Promise<void> {
    await this.deleteItem(this.keys.task(taskId), `Deleting task ${taskId}`);
  }

  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const client = await this.connect();
    return increment(client, this.table, this.keys.counter(key), by, this.expiry(expiresAt));
  }

  async removeCounter(key: string): Promise<void> {
    await this.deleteItem(this.keys.counter(key), `Deleting counter ${key}`);
  }

  /** Stores a group's member ids in Celery's layout (`celery-taskset-meta-<id>`). */
  async saveGroup(group: GroupRecord): Promise<void> {
    const client = await this.connect();
    const item = groupItem(this.keys.group(group.groupId), {
      ...group,
      expiresAt: this.expiry(group.expiresAt),
    });
    try {
      // Unconditional, as Celery's save_group: a group id is written once, by one producer.
      await client.send(new PutItemCommand({ TableName: this.table, Item: item }));
    } catch (error) {
      throw wrapError(error, `Saving group ${group.groupId}`);
    }
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const item = await this.getItem(this.keys.group(groupId), `Reading group ${groupId}`);
    return item ? groupFromItem(item, groupId) : null;
  }

  /** Deletes a saved group. */
  async removeGroup(groupId: string): Promise<void> {
    await this.deleteItem(this.keys.group(groupId), `Deleting group ${groupId}`);
  }

  async cleanup(now: Date): Promise<number> {
    const client = await this.connect();
    return deleteExpired(client, this.table, now.getTime());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A caller-built client is theirs to close, unless they asked us to.
    const owned = !this.options.client || this.options.closeClient;
    if (owned) this.client?.destroy();
  }

  /** Deletes the table (all tasks, groups and counters of this namespace). */
  async destroy(): Promise<void> {
    const client = this.getClient();
    this.ready = null;
    try {
      await client.send(new DeleteTableCommand({ TableName: this.table }));
    } catch (error) {
      if (errorName(error) !== "ResourceNotFoundException")
        throw wrapError(error, `Deleting table ${this.table}`);
    }
  }

  isRetryable(error: unknown): boolean {
    return isRetryableError(error);
  }

  /** The client, with the table set up once (memoized; a failed setup is retried by the next call). */
  private connect(): Promise<DynamoDBClient> {
    if (!this.ready) {
      const client = this.getClient();
      const setup =
        this.options.manageTable === false
          ? Promise.resolve()
          : ensureTable(client, this.table, {
              readCapacityUnits: this.options.readCapacityUnits,
              writeCapacityUnits: this.options.writeCapacityUnits,
              enableTtl: this.options.ttlSeconds !== -1,
            });
      this.ready = setup.then(
        () => client,
        (error) => {
          this.ready = null;
          throw error;
        },
      );
    }
    return this.ready;
  }

  private getClient(): DynamoDBClient {
    if (this.closed) throw new StoreClosedError(BACKEND_NAME);
    if (!this.client) {
      const { region, endpoint, credentials, maxAttempts } = this.options;
      this.client = new DynamoDBClient({
        ...(region ? { region } : {}),
        ...(endpoint ? { endpoint } : {}),
        ...(credentials ? { credentials } : {}),
        maxAttempts: maxAttempts ?? 3,
      });
    }
    this.writer ??= new TaskWriter(this.client, this.table);
    return this.client;
  }

  /** The expiry to store: the store's, or the fixed `ttlSeconds` (Celery's `ttl_seconds`). */
  private expiry(expiresAt: Date | null): Date | null {
    const seconds = this.options.ttlSeconds;
    if (seconds === undefined) return expiresAt;
    return seconds === -1 ? null : new Date(Date.now() + seconds * 1000);
  }

  private async getItem(id: string, doing: string): Promise<Item | null> {
    const client = await this.connect();
    try {
      const output = await client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { [ATTR.id]: { S: id } },
          ConsistentRead: true,
        }),
      );
      return output.Item ?? null;
    } catch (error) {
      throw wrapError(error, doing);
    }
  }

  private async deleteItem(id: string, doing: string): Promise<void> {
    const client = await this.connect();
    try {
      await client.send(
        new DeleteItemCommand({ TableName: this.table, Key: { [ATTR.id]: { S: id } } }),
      );
    } catch (error) {
      throw wrapError(error, doing);
    }
  }
}

/** Type checks for options that may come untyped (createStore's backendOptions). */
function validateOptions(options: DynamoDBBackendOptions): DynamoDBBackendOptions {
  for (const key of ["region", "endpoint", "table", "namespace", "keyPrefix"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      throw new ConfigurationError(BACKEND_NAME, `Option \`${key}\` must be a non-empty string.`);
    }
  }
  if (options.keyFormat !== undefined && !KEY_FORMATS.has(options.keyFormat)) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Option \`keyFormat\` must be "celery" or "plain", got ${JSON.stringify(options.keyFormat)}.`,
    );
  }
  intOption(options.readCapacityUnits, "readCapacityUnits", BACKEND_NAME, 1);
  intOption(options.writeCapacityUnits, "writeCapacityUnits", BACKEND_NAME, 1);
  intOption(options.maxAttempts, "maxAttempts", BACKEND_NAME, 1);
  const ttl = intOption(options.ttlSeconds, "ttlSeconds", BACKEND_NAME, -1);
  if (ttl === 0)
    throw new ConfigurationError(
      BACKEND_NAME,
      "Option `ttlSeconds` must be -1 (no expiry) or at least 1.",
    );
  return options;
}

/**
 * `createStore`'s entry point: Celery's URL form, then `options` (which win), with
 * `options.namespace` selecting the table `<table>_<namespace>`.
 */
export function fromUrl(url: string, options: BackendUrlOptions = {}): DynamoDBBackend {
  return new DynamoDBBackend({ ...optionsFromUrl(url), ...(options as DynamoDBBackendOptions) });
}
