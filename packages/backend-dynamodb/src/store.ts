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
  type BackendTelemetry,
  type BackendUrlOptions,
  type GroupRecord,
  type ResultBackend,
  StoreClosedError,
  type TaskRecord,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import { endpointOf, LazyConnection, mergeUrlOptions } from "@resultstore/core/backend";
import { batchGet, deleteExpired } from "./bulk.js";
import { BACKEND_NAME, optionsFromUrl, resolveConfig } from "./config.js";
import { addMember, increment } from "./counters.js";
import { errorName, errors, ITEM_LIMIT_BYTES, trackAttempts } from "./errors.js";
import { KeyBuilder } from "./keys.js";
import { ATTR, decodeGroup, decodeTask, encodeGroup, type Item } from "./records.js";
import { ensureTable } from "./table.js";
import type { DynamoDBBackendOptions } from "./types.js";
import { TaskWriter } from "./write.js";

/**
 * The largest record core may hand us: DynamoDB's 400 KB item minus what an item holds beside the
 * meta JSON core measures (the key, up to ~850 bytes for a 200-byte non-ASCII id in Celery's
 * bytes repr, plus attribute names, `status`, `timestamp` and `ttl`), rounded up to 2 KiB. Optional
 * fields (args, kwargs, children…) are kept twice, in the blob and in their own attributes, so a
 * write whose extended fields are large is checked again, exactly, before it is sent.
 */
const MAX_RECORD_BYTES = ITEM_LIMIT_BYTES - 2048;

/** The DynamoDB backend: Celery's item layout, conditional UpdateItem for the state rules, native TTL. */
export class DynamoDBBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  /** The table this backend reads and writes. */
  readonly table: string;
  readonly telemetry: BackendTelemetry;
  private readonly options: DynamoDBBackendOptions;
  private readonly keys: KeyBuilder;
  private client: DynamoDBClient | null;
  private writer: TaskWriter | null = null;
  /** The client, with the table set up once (`manageTable`). */
  private readonly connection = new LazyConnection(BACKEND_NAME, async () => {
    const client = this.getClient();
    if (this.options.manageTable !== false) {
      await ensureTable(client, this.table, {
        readCapacityUnits: this.options.readCapacityUnits,
        writeCapacityUnits: this.options.writeCapacityUnits,
        enableTtl: this.options.ttlSeconds !== -1,
      });
    }
    return client;
  });

  constructor(options: DynamoDBBackendOptions = {}) {
    this.table = resolveConfig(options).table;
    this.options = options;
    this.keys = new KeyBuilder(options.keyFormat ?? "celery", options.keyPrefix);
    this.client = options.client ?? null;
    this.capabilities = {
      nativeExpiry: options.ttlSeconds !== -1,
      maxRecordBytes: MAX_RECORD_BYTES,
    };
    const aws = options.region && `https://dynamodb.${options.region}.amazonaws.com`;
    this.telemetry = {
      system: "aws.dynamodb",
      collection: this.table,
      ...endpointOf(options.client ? undefined : (options.endpoint ?? aws), 443),
    };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    return this.withTable(() =>
      (this.writer as TaskWriter).write(this.keys.task(write.taskId), {
        ...write,
        expiresAt: this.expiry(write.expiresAt),
      }),
    );
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const item = await this.getItem(this.keys.task(taskId), `Reading task ${taskId}`);
    return item ? decodeTask(item, taskId) : null;
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const ids = taskIds.map((taskId) => this.keys.task(taskId));
    const items = await this.withTable((client) => batchGet(client, this.table, ids));
    return taskIds.map((taskId, i) => {
      const item = items.get(ids[i] as string);
      return item ? decodeTask(item, taskId) : null;
    });
  }

  async remove(taskId: string): Promise<void> {
    await this.deleteItem(this.keys.task(taskId), `Deleting task ${taskId}`);
  }

  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.withTable((client) =>
      increment(client, this.table, this.keys.counter(key), by, this.expiry(expiresAt)),
    );
  }

  async removeCounter(key: string): Promise<void> {
    await this.deleteItem(this.keys.counter(key), `Deleting counter ${key}`);
  }

  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.withTable((client) =>
      addMember(client, this.table, this.keys.set(key), member, this.expiry(expiresAt)),
    );
  }

  /** Stores a group's member ids in Celery's layout (`celery-taskset-meta-<id>`). */
  async saveGroup(group: GroupRecord): Promise<void> {
    const item = encodeGroup(this.keys.group(group.groupId), {
      ...group,
      expiresAt: this.expiry(group.expiresAt),
    });
    // Unconditional, as Celery's save_group: a group id is written once, by one producer.
    await this.withTable((client) =>
      errors.guard(`Saving group ${group.groupId}`, () =>
        client.send(new PutItemCommand({ TableName: this.table, Item: item })),
      ),
    );
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const item = await this.getItem(this.keys.group(groupId), `Reading group ${groupId}`);
    return item ? decodeGroup(item, groupId) : null;
  }

  /** Deletes a saved group. */
  async removeGroup(groupId: string): Promise<void> {
    await this.deleteItem(this.keys.group(groupId), `Deleting group ${groupId}`);
  }

  async cleanup(now: Date): Promise<number> {
    return this.withTable((client) => deleteExpired(client, this.table, now.getTime()));
  }

  async close(): Promise<void> {
    // A caller-built client is theirs to close, unless they asked us to.
    const owned = !this.options.client || this.options.closeClient;
    await this.connection.close(() => owned && this.client?.destroy());
  }

  /** Deletes the table (all tasks, groups and counters of this namespace). */
  async destroy(): Promise<void> {
    const client = this.getClient();
    this.connection.reset();
    await errors.guard(
      `Deleting table ${this.table}`,
      () => client.send(new DeleteTableCommand({ TableName: this.table })),
      errors.on(["ResourceNotFoundException"], "gone"),
    );
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  private getClient(): DynamoDBClient {
    if (this.connection.isClosed) throw new StoreClosedError(BACKEND_NAME);
    if (!this.client) {
      const { region, endpoint, credentials, maxAttempts } = this.options;
      this.client = new DynamoDBClient({
        ...(region ? { region } : {}),
        ...(endpoint ? { endpoint } : {}),
        ...(credentials ? { credentials } : {}),
        maxAttempts: maxAttempts ?? 3,
      });
      trackAttempts(this.client);
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
    const output = await this.withTable((client) =>
      errors.guard(doing, () =>
        client.send(
          new GetItemCommand({
            TableName: this.table,
            Key: { [ATTR.id]: { S: id } },
            ConsistentRead: true,
          }),
        ),
      ),
    );
    return output.Item ?? null;
  }

  private async deleteItem(id: string, doing: string): Promise<void> {
    await this.withTable((client) =>
      errors.guard(doing, () =>
        client.send(
          new DeleteItemCommand({ TableName: this.table, Key: { [ATTR.id]: { S: id } } }),
        ),
      ),
    );
  }

  /**
   * Runs `op` on the client with the table set up. The table is made once per process, so when it
   * vanishes behind our back (an in-memory DynamoDB Local restarted, an operator deleted it) every
   * call would fail until a restart: on ResourceNotFoundException we set the table up again, once,
   * and run `op` once more. Safe for every op, `incr` included: on a missing table nothing landed.
   */
  private async withTable<T>(op: (client: DynamoDBClient) => Promise<T>): Promise<T> {
    const opened = this.connection.get();
    const client = await opened;
    try {
      return await op(client);
    } catch (error) {
      if (this.options.manageTable === false || !isTableMissing(error)) throw error;
      this.connection.forget(opened); // the first of many failing callers sets it up again
      return op(await this.connection.get());
    }
  }
}

/** Whether `error` (or one of its causes) is DynamoDB's "no such table". */
function isTableMissing(error: unknown): boolean {
  let e = error;
  for (let depth = 0; e && depth < 5; depth++, e = (e as { cause?: unknown }).cause) {
    if (errorName(e) === "ResourceNotFoundException") return true;
  }
  return false;
}

/** `createStore("dynamodb://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & DynamoDBBackendOptions = {},
): DynamoDBBackend {
  return new DynamoDBBackend(mergeUrlOptions(optionsFromUrl(url), options));
}
