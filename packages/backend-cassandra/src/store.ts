/**
 * `CassandraBackend`: Celery's Cassandra table with native TTLs. A write reads the partition,
 * merges with core's `applyWrite`, then commits one batch that Paxos applies only if no other
 * write came in between (records.ts `encodeWrite`), so the state rules hold on the server with no
 * read-then-write window; a lost race reads again and re-decides.
 */
import { setTimeout } from "node:timers/promises";
import type {
  BackendCapabilities,
  BackendTelemetry,
  BackendUrlOptions,
  GroupRecord,
  ResultBackend,
  TaskRecord,
  TaskWrite,
  WriteOutcome,
} from "@resultstore/core";
import {
  applyWrite,
  assertRecordFits,
  chunks,
  IncrementBatcher,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  retryLostRaces,
} from "@resultstore/core/backend";
import type cassandra from "cassandra-driver";
import { createClient, Schema } from "./client.js";
import {
  BACKEND_NAME,
  optionsFromUrl,
  type ResolvedConfig,
  resolveConfig,
  type TableKind,
} from "./config.js";
import { addToSet, type Context, incr } from "./counters.js";
import { errors, lightweightTransaction } from "./errors.js";
import {
  decodeGroup,
  decodeTask,
  encodeGroup,
  encodeWrite,
  type Statements,
  statements,
  storedWriteId,
} from "./records.js";
import type { CassandraBackendOptions } from "./types.js";

/** Ids per `SELECT … IN` of readMany. */
const READ_MANY_CHUNK = 100;

/** The Cassandra / Astra DB backend. */
export class CassandraBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  readonly telemetry: BackendTelemetry;
  private readonly config: ResolvedConfig;
  private readonly cql: Statements;
  private readonly connection: LazyConnection<cassandra.Client>;
  private readonly schema: Schema;
  private readonly writes = new KeyedQueue();
  /** Same-key increments in this process share one transaction (see counters.ts). */
  private readonly counters = new IncrementBatcher(async (key, by, expiresAt) =>
    incr(await this.context("counters"), key, by, expiresAt),
  );

  constructor(options: CassandraBackendOptions) {
    this.config = resolveConfig(options);
    const client = createClient(this.config);
    this.connection = new LazyConnection(BACKEND_NAME, async () => {
      await client.connect();
      return client;
    });
    this.schema = new Schema(this.connection, this.config);
    this.cql = statements(this.config.names);
    this.capabilities = { nativeExpiry: true, maxRecordBytes: this.config.maxRecordBytes };
    const { keyspace, ...collection } = this.config.names;
    this.telemetry = {
      system: "cassandra",
      namespace: keyspace,
      collection,
      ...this.config.endpoint,
    };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const client = await this.schema.ready("tasks");
    const label = `write of task ${write.taskId}`;
    const { readOptions, sendOnce, guardedWrites, maxRecordBytes } = this.config;
    return this.writes.run(write.taskId, () =>
      errors.guard(label, () =>
        retryLostRaces(BACKEND_NAME, label, async () => {
          const now = Date.now();
          const row =
            (await client.execute(this.cql.readGuard, [write.taskId], readOptions)).first() ??
            undefined;
          const stored = decodeTask(row, write.taskId, now);
          const next = applyWrite(stored, write, new Date(now));
          // Refused, unless the stored record is this very call's: sent again after it landed.
          if (!next) return { applied: !!write.writeId && storedWriteId(row) === write.writeId };
          if (stored) assertRecordFits(BACKEND_NAME, next, write.resultJson, maxRecordBytes);
          const batch = encodeWrite(this.cql, guardedWrites, write, next, row, now);
          const send = () => client.batch(batch, sendOnce);
          const outcome = guardedWrites ? await lightweightTransaction(label, send) : await send();
          // Not applied: another process wrote in between; read again and re-decide.
          return !guardedWrites || outcome.wasApplied() ? { applied: true } : LOST_RACE;
        }),
      ),
    );
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const client = await this.schema.ready("tasks");
    return errors.guard(`read of task ${taskId}`, async () => {
      const result = await client.execute(this.cql.readTask, [taskId], this.config.readOptions);
      return decodeTask(result.first(), taskId);
    });
  }

  /** A round trip per 100 ids (`IN`, newest row of each partition), all in flight at once. */
  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const client = await this.schema.ready("tasks");
    return errors.guard(`read of ${taskIds.length} tasks`, async () => {
      const rows = new Map<string, cassandra.types.Row>();
      await Promise.all(
        chunks([...new Set(taskIds)], READ_MANY_CHUNK).map(async (ids) => {
          const result = await client.execute(this.cql.readTasks, [ids], this.config.readOptions);
          for (const row of result.rows) rows.set(row.get("task_id") as string, row);
        }),
      );
      return taskIds.map((id) => decodeTask(rows.get(id), id));
    });
  }

  async remove(taskId: string): Promise<void> {
    const client = await this.schema.ready("tasks");
    await errors.guard(`removal of task ${taskId}`, () =>
      client.execute(this.cql.deleteTask, [taskId], this.config.writeOptions),
    );
  }

  /** A compare-and-set (counters.ts), concurrent calls batched per key. */
  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.counters.incr(key, by, expiresAt);
  }

  /** A map of member → expiry, updated without Paxos (counters.ts). */
  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return addToSet(await this.context("sets"), key, member, expiresAt);
  }

  async removeCounter(key: string): Promise<void> {
    const client = await this.schema.ready("counters");
    await errors.guard(`removal of counter ${key}`, () =>
      client.execute(this.cql.deleteCounter, [key], this.config.writeOptions),
    );
  }

  async saveGroup(group: GroupRecord): Promise<void> {
    const client = await this.schema.ready("groups");
    const params = encodeGroup(group);
    await errors.guard(`save of group ${group.groupId}`, () =>
      client.execute(this.cql.saveGroup, params, this.config.writeOptions),
    );
  }

  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const client = await this.schema.ready("groups");
    return errors.guard(`read of group ${groupId}`, async () => {
      const result = await client.execute(this.cql.readGroup, [groupId], this.config.readOptions);
      const row = result.first();
      return row ? decodeGroup(row, groupId) : null;
    });
  }

  async removeGroup(groupId: string): Promise<void> {
    const client = await this.schema.ready("groups");
    await errors.guard(`removal of group ${groupId}`, () =>
      client.execute(this.cql.deleteGroup, [groupId], this.config.writeOptions),
    );
  }

  /**
   * Every write carries USING TTL, so Cassandra deletes what expired; this only waits out the TTL's
   * whole second, so that nothing expired by `now` is still readable when it returns.
   */
  async cleanup(now: Date): Promise<number> {
    const wait = Math.ceil(now.getTime() / 1000) * 1000 + 50 - Date.now();
    if (wait > 0) await setTimeout(wait);
    return 0;
  }

  async close(): Promise<void> {
    await this.connection.close((client) => client && this.config.ownsClient && client.shutdown());
  }

  /** Drops this namespace's tables (or keyspace); truncates configured tables. */
  async destroy(): Promise<void> {
    await errors.guard("destroy", () => this.schema.destroy());
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  private async context(kind: TableKind): Promise<Context> {
    return { client: await this.schema.ready(kind), cql: this.cql, config: this.config };
  }
}

/** `createStore("cassandra://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(url: string, options: BackendUrlOptions & CassandraBackendOptions = {}) {
  return new CassandraBackend(mergeUrlOptions(optionsFromUrl(url), options));
}

/** Runs tasks one at a time per key, so this process never races itself through Paxos. */
class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => this.tails.get(key) === tail && this.tails.delete(key));
    return result;
  }
}
