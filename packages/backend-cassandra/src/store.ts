/**
 * `CassandraBackend`: Celery's Cassandra table, guarded by lightweight transactions.
 *
 * A write reads the partition (newest row plus our static columns), merges with core's
 * `applyWrite`, then commits one conditional batch on that partition: `IF rs_version = <read>`
 * on the static guard, the new Celery row, and the delete of the row it supersedes. Paxos applies
 * the batch only if no other write came in between, so the state rules and the merge hold on the
 * server with no read-then-write window; a lost race reads again and re-decides.
 */
import {
  applyWrite,
  type BackendCapabilities,
  BackendError,
  decodeJson,
  encodeJson,
  type GroupRecord,
  groupTuple,
  type ResultBackend,
  StoreClosedError,
  type TaskRecord,
  type TaskWrite,
  taskIdsFromGroupValue,
  type WriteOutcome,
} from "@resultstore/core";
import cassandra from "cassandra-driver";
import { BACKEND_NAME, optionsFromUrl, type ResolvedConfig, resolveConfig } from "./config.js";
import { backoff, KeyedQueue, MAX_ATTEMPTS } from "./contention.js";
import { Counters } from "./counters.js";
import { buildClient, isCasTimeout, isRetryableError, wrapError } from "./driver.js";
import { celeryColumns, encodeStaticMeta, recordFromRow, ttlSeconds } from "./rows.js";
import { Schema, type Statements, statements, type TableKind } from "./schema.js";
import type { CassandraBackendOptions } from "./types.js";

const level = (name: string) =>
  cassandra.types.consistencies[name as keyof typeof cassandra.types.consistencies];

/** The Cassandra / Astra DB backend: Celery's table layout, lightweight transactions for the state rules, native TTL. */
export class CassandraBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  private readonly config: ResolvedConfig;
  private readonly cql: Statements;
  private readonly schema: Schema;
  private readonly ownsClient: boolean;
  private readonly client: cassandra.Client;
  private connecting: Promise<cassandra.Client> | undefined;
  private closed = false;
  private readonly writes = new KeyedQueue();
  private readonly counters = new Counters();
  private readonly readOptions: cassandra.QueryOptions;
  private readonly writeOptions: cassandra.QueryOptions;

  constructor(options: CassandraBackendOptions) {
    this.config = resolveConfig(options);
    this.client = options.client ?? buildClient(options);
    this.ownsClient = !options.client || options.closeClient === true;
    this.cql = statements(this.config.names);
    this.schema = new Schema(() => this.connect(), this.config);
    this.capabilities = { nativeExpiry: true, maxRecordBytes: this.config.maxRecordBytes };
    this.readOptions = { prepare: true, consistency: level(this.config.readConsistency) };
    this.writeOptions = {
      prepare: true,
      consistency: level(this.config.writeConsistency),
      serialConsistency: level(this.config.serialConsistency),
    };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const client = await this.ready("tasks");
    return this.writes.run(write.taskId, () =>
      this.guard(`write of ${write.taskId}`, () => this.writeLoop(client, write)),
    );
  }

  private async writeLoop(client: cassandra.Client, write: TaskWrite): Promise<WriteOutcome> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = Date.now();
      const row =
        (await client.execute(this.cql.readGuard, [write.taskId], this.readOptions)).first() ??
        undefined;
      const stored = recordFromRow(row, write.taskId, now);
      const next = applyWrite(stored, write, new Date(now));
      if (!next) return { applied: false };
      const version = (row?.get("rs_version") as number | null | undefined) ?? null;
      const superseded = stored ? (row?.get("date_done") as Date) : null;
      const batch = this.writeBatch(write, next, version, superseded, now);
      const outcome = await client.batch(batch, this.writeOptions);
      if (!this.config.guardedWrites || outcome.wasApplied()) return { applied: true };
      await backoff(attempt); // another process wrote in between: read again and re-decide
    }
    throw new BackendError(
      BACKEND_NAME,
      `Write of ${write.taskId} lost ${MAX_ATTEMPTS} races in a row.`,
    );
  }

  /** One partition, so Cassandra applies it atomically (and, with the IF, under Paxos). */
  private writeBatch(
    write: TaskWrite,
    next: TaskRecord,
    version: number | null,
    superseded: Date | null,
    now: number,
  ) {
    const ttl = ttlSeconds(next.expiresAt, now);
    const staticMeta = encodeStaticMeta(next); // EncodeError here, before anything is sent
    const row = celeryColumns(next, write.resultJson);
    // The new row must sort first (Celery reads the newest): never at or before the one it replaces.
    const rowTime = Math.max(
      (next.dateDone ?? new Date(now)).getTime(),
      (superseded?.getTime() ?? 0) + 1,
    );
    const statics = [ttl, (version ?? 0) + 1, staticMeta, next.expiresAt, write.taskId];
    const queries: { query: string; params: unknown[] }[] = [
      this.config.guardedWrites
        ? { query: this.cql.guardedStatics, params: [...statics, version] }
        : { query: this.cql.plainStatics, params: statics },
    ];
    if (superseded) queries.push({ query: this.cql.deleteRow, params: [write.taskId, superseded] });
    queries.push({
      query: this.cql.insertRow,
      params: [
        write.taskId,
        new Date(rowTime),
        row.status,
        row.result,
        row.traceback,
        row.children,
        ttl,
      ],
    });
    return queries;
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const client = await this.ready("tasks");
    return this.guard(`read of ${taskId}`, async () => {
      const result = await client.execute(this.cql.readTask, [taskId], this.readOptions);
      return recordFromRow(result.first() ?? undefined, taskId);
    });
  }

  async remove(taskId: string): Promise<void> {
    const client = await this.ready("tasks");
    await this.guard(`remove of ${taskId}`, () =>
      client.execute(this.cql.deleteTask, [taskId], this.writeOptions),
    );
  }

  /** See counters.ts: a compare-and-set with a TTL, concurrent calls coalesced per key. */
  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const client = await this.ready("counters");
    const context = {
      client,
      cql: this.cql,
      readOptions: this.readOptions,
      writeOptions: this.writeOptions,
    };
    return this.counters.incr(context, key, by, expiresAt, (operation) =>
      this.guard(`incr of ${key}`, operation),
    );
  }

  async removeCounter(key: string): Promise<void> {
    const client = await this.ready("counters");
    await this.guard(`removal of counter ${key}`, () =>
      client.execute(this.cql.deleteCounter, [key], this.writeOptions),
    );
  }

  /** Stores a group's member ids in Celery's layout (`celery-taskset-meta-<id>`). */
  async saveGroup(group: GroupRecord): Promise<void> {
    const client = await this.ready("groups");
    const value = Buffer.from(encodeJson(groupTuple(group)), "utf8");
    const params = [
      group.groupId,
      value,
      group.dateDone,
      group.expiresAt,
      ttlSeconds(group.expiresAt),
    ];
    await this.guard(`save of group ${group.groupId}`, () =>
      client.execute(this.cql.saveGroup, params, this.writeOptions),
    );
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const client = await this.ready("groups");
    return this.guard(`read of group ${groupId}`, async () => {
      const row = (await client.execute(this.cql.readGroup, [groupId], this.readOptions)).first();
      if (!row) return null;
      return {
        groupId,
        taskIds: taskIdsFromGroupValue(decodeJson(row.get("result") as Buffer)),
        dateDone: row.get("date_done") as Date,
        expiresAt: (row.get("expires_at") as Date | null) ?? null,
      };
    });
  }

  /** Deletes a saved group. */
  async removeGroup(groupId: string): Promise<void> {
    const client = await this.ready("groups");
    await this.guard(`removal of group ${groupId}`, () =>
      client.execute(this.cql.deleteGroup, [groupId], this.writeOptions),
    );
  }

  /**
   * Cassandra drops expired data itself (every write carries USING TTL), so there is nothing to
   * delete: this only waits out the TTL's whole-second granularity, so that nothing that expired
   * by `now` is still readable when it returns.
   */
  async cleanup(now: Date): Promise<number> {
    const wait = Math.ceil(now.getTime() / 1000) * 1000 + 50 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const client = await this.connecting?.catch(() => undefined);
    if (client && this.ownsClient) await client.shutdown();
  }

  /** Drops this namespace's tables (or keyspace); truncates configured tables. */
  async destroy(): Promise<void> {
    await this.guard("destroy", () => this.schema.destroy());
  }

  isRetryable(error: unknown): boolean {
    return isRetryableError(error);
  }

  private connect(): Promise<cassandra.Client> {
    if (this.closed) return Promise.reject(new StoreClosedError(BACKEND_NAME));
    if (!this.connecting) {
      const client = this.client;
      this.connecting = client.connect().then(() => client);
      // A failed connect must not stick: the next call tries again.
      this.connecting.catch(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  private ready(kind: TableKind): Promise<cassandra.Client> {
    return this.guard("connect", async () => {
      await this.schema.ensure(kind);
      return this.connect();
    });
  }

  /** Runs a driver call, turning its failures into core's typed errors. */
  private async guard<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (isCasTimeout(error)) {
        throw new BackendError(
          BACKEND_NAME,
          `${what}: the lightweight transaction timed out; it may or may not have been applied.`,
          { cause: error },
        );
      }
      throw wrapError(error, what);
    }
  }
}

/** `createStore`'s entry point: Celery's URL form plus options (options win over the URL). */
export function fromUrl(url: string, options: CassandraBackendOptions = {}): CassandraBackend {
  return new CassandraBackend({ ...optionsFromUrl(url), ...options });
}
