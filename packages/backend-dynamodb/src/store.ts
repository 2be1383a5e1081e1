/** `DynamoDBBackend`: task results in Celery's DynamoDB item layout, guarded on the server. */
import {
  DeleteItemCommand,
  DeleteTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import {
  type BackendCapabilities,
  type BackendTelemetry,
  type BackendUrlOptions,
  type CountQuery,
  type FindQuery,
  type GroupRecord,
  type ResultBackend,
  StoreClosedError,
  type TaskRecord,
  type TaskState,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import {
  type CeleryKeys,
  endpointOf,
  LazyConnection,
  mapLimit,
  mergeUrlOptions,
} from "@resultstore/core/backend";
import { createClient, missingIndex, provision, TABLE_GONE, type Table } from "./client.js";
import { BACKEND_NAME, optionsFromUrl, type ResolvedConfig, resolveConfig } from "./config.js";
import { addToSet, incr } from "./counters.js";
import { CONDITION_FAILED, errors, ITEM_LIMIT_BYTES } from "./errors.js";
import { Expression } from "./expression.js";
import { countTasks, findTasks, type OnMissingIndex } from "./find.js";
import {
  ATTR,
  batchGet,
  decodeGroup,
  decodeTask,
  encodeGroup,
  epochSeconds,
  type Item,
  itemKey,
  itemKeys,
  stillExpired,
  writeTask,
} from "./records.js";
import type { DynamoDBBackendOptions } from "./types.js";

/** DynamoDB's 400 KB item minus room for the key and our attributes (README "Limits"). */
const MAX_RECORD_BYTES = ITEM_LIMIT_BYTES - 2048;
/** Conditional deletes cleanup keeps in flight. */
const DELETE_CONCURRENCY = 16;

/** The DynamoDB backend: Celery's item layout, conditional UpdateItem for the state rules, native TTL. */
export class DynamoDBBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  readonly telemetry: BackendTelemetry;
  /** The table this backend reads and writes. */
  readonly table: string;
  private readonly config: ResolvedConfig;
  private readonly keys: CeleryKeys;
  private client: DynamoDBClient | undefined;
  /** The table, set up on first use (`manageTable`), and again when it vanished (`withTable`). */
  private readonly connection = new LazyConnection(BACKEND_NAME, async () => {
    const table = { client: this.sdk(), name: this.table };
    if (this.config.manageTable) await provision(table, this.config);
    return table;
  });

  constructor(options: DynamoDBBackendOptions = {}) {
    this.config = resolveConfig(options);
    this.table = this.config.table;
    this.keys = itemKeys(this.config);
    const nativeExpiry = this.config.ttlSeconds !== -1;
    this.capabilities = { nativeExpiry, maxRecordBytes: MAX_RECORD_BYTES };
    const endpoint = endpointOf(this.config.endpoint, 443);
    this.telemetry = { system: "aws.dynamodb", collection: this.table, ...endpoint };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const id = this.keys.task(write.taskId);
    const expiresAt = this.expiry(write.expiresAt);
    return this.withTable((table) => writeTask(table, id, { ...write, expiresAt }));
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    return decodeTask(await this.getItem(this.keys.task(taskId), `read of task ${taskId}`), taskId);
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const ids = taskIds.map((taskId) => this.keys.task(taskId));
    const items = await this.withTable((table) => batchGet(table, ids));
    return taskIds.map((taskId, i) => decodeTask(items.get(ids[i] as string), taskId));
  }

  async remove(taskId: string): Promise<void> {
    await this.deleteItem(this.keys.task(taskId), `removal of task ${taskId}`);
  }

  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const id = this.keys.counter(key);
    return this.withTable((table) => incr(table, id, by, this.expiry(expiresAt)));
  }

  async removeCounter(key: string): Promise<void> {
    await this.deleteItem(this.keys.counter(key), `removal of counter ${key}`);
  }

  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    const id = this.keys.set(key);
    return this.withTable((table) => addToSet(table, id, member, this.expiry(expiresAt)));
  }

  async saveGroup(group: GroupRecord): Promise<void> {
    const expiresAt = this.expiry(group.expiresAt);
    const Item = encodeGroup(this.keys.group(group.groupId), { ...group, expiresAt });
    const put = new PutItemCommand({ TableName: this.table, Item });
    // Unconditional, as Celery's save_group: a group id is written once, by one producer.
    await this.withTable(({ client }) =>
      errors.guard(`save of group ${group.groupId}`, () => client.send(put)),
    );
  }

  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const item = await this.getItem(this.keys.group(groupId), `read of group ${groupId}`);
    return decodeGroup(item, groupId);
  }

  async removeGroup(groupId: string): Promise<void> {
    await this.deleteItem(this.keys.group(groupId), `removal of group ${groupId}`);
  }

  /** Queries per state (or of all tasks) on the find indexes, merged by position (README "Finding tasks"). */
  async find(query: FindQuery): Promise<TaskRecord[]> {
    return this.withTable((table) => findTasks(table, query, this.onMissingIndex(table)));
  }

  /** Pages through the all-tasks index reading `status` alone, counting in the client. */
  async countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    return this.withTable((table) => countTasks(table, query, this.onMissingIndex(table)));
  }

  /** Deletes conditional on the item still being expired: one rewritten since the scan survives. */
  async cleanup(now: Date): Promise<number> {
    return this.withTable(async ({ client }) => {
      let deleted = 0;
      let startKey: Item | undefined;
      const rewritten = errors.on([CONDITION_FAILED], false);
      do {
        const expr = new Expression();
        const scan = new ScanCommand({
          TableName: this.table,
          FilterExpression: expr.expired(ATTR.ttl, epochSeconds(now)),
          ProjectionExpression: expr.name(ATTR.id),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
          ...expr.placeholders(),
        });
        const page = await errors.guard("cleanup", () => client.send(scan));
        const ids = (page.Items ?? []).flatMap((item) => item[ATTR.id]?.S ?? []);
        const removed = await mapLimit(ids, DELETE_CONCURRENCY, (id) => {
          const input = { TableName: this.table, Key: itemKey(id), ...stillExpired(now) };
          const remove = async () => Boolean(await client.send(new DeleteItemCommand(input)));
          return errors.guard(`cleanup of item ${id}`, remove, rewritten);
        });
        deleted += removed.filter(Boolean).length;
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      return deleted;
    });
  }

  async close(): Promise<void> {
    await this.connection.close(() => this.config.ownsClient && this.client?.destroy());
  }

  /** Deletes the table (all tasks, groups and counters of this namespace). */
  async destroy(): Promise<void> {
    const client = this.sdk();
    this.connection.reset();
    await errors.guard(
      `removal of table ${this.table}`,
      () => client.send(new DeleteTableCommand({ TableName: this.table })),
      errors.on([TABLE_GONE], "gone"),
    );
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  private sdk(): DynamoDBClient {
    if (this.connection.isClosed) throw new StoreClosedError(BACKEND_NAME);
    this.client ??= createClient(this.config);
    return this.client;
  }

  /** The expiry to store: the store's, or the fixed `ttlSeconds` (Celery's `ttl_seconds`). */
  private expiry(expiresAt: Date | null): Date | null {
    const seconds = this.config.ttlSeconds;
    if (seconds === undefined) return expiresAt;
    return seconds === -1 ? null : new Date(Date.now() + seconds * 1000);
  }

  private onMissingIndex(table: Table): OnMissingIndex {
    return (index, cause) => missingIndex(table, this.config, index, cause);
  }

  private async getItem(id: string, doing: string): Promise<Item | undefined> {
    const input = { TableName: this.table, Key: itemKey(id), ConsistentRead: true };
    const output = await this.withTable(({ client }) =>
      errors.guard(doing, () => client.send(new GetItemCommand(input))),
    );
    return output.Item;
  }

  private async deleteItem(id: string, doing: string): Promise<void> {
    const remove = new DeleteItemCommand({ TableName: this.table, Key: itemKey(id) });
    await this.withTable(({ client }) => errors.guard(doing, () => client.send(remove)));
  }

  /** `op` on the table, set up again once if it vanished (README "Table setup"; nothing landed). */
  private withTable<T>(op: (table: Table) => Promise<T>): Promise<T> {
    const gone = (error: unknown) =>
      this.config.manageTable && errors.statusOf(error) === TABLE_GONE;
    return this.connection.reopening(op, gone);
  }
}

/** `createStore("dynamodb://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & DynamoDBBackendOptions = {},
): DynamoDBBackend {
  return new DynamoDBBackend(mergeUrlOptions(optionsFromUrl(url), options));
}
