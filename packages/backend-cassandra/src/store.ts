/**
 * `CassandraBackend`: a write reads the partition, then commits one batch that Paxos applies only
 * if no other write came in between (README: How the state rules and the merge are atomic).
 */
import { setTimeout } from "node:timers/promises";
import type {
  BackendCapabilities,
  BackendTelemetry,
  BackendUrlOptions,
  CountQuery,
  FindQuery,
  GroupRecord,
  ResultBackend,
  TaskRecord,
  TaskState,
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
import { countTasks, type FindContext, findTasks } from "./find.js";
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
    this.connection = new LazyConnection(BACKEND_NAME, () => client.connect().then(() => client));
    this.schema = new Schema(this.connection, this.config);
    this.cql = statements(this.config.names);
    this.capabilities = { nativeExpiry: true, maxRecordBytes: this.config.maxRecordBytes };
    const { keyspace: namespace, ...collection } = this.config.names;
    this.telemetry = { system: "cassandra", namespace, collection, ...this.config.endpoint };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const client = await this.schema.ready("tasks");
    const label = `write of task ${write.taskId}`;
    const { readOptions, sendOnce, guardedWrites, maxRecordBytes } = this.config;
    return this.writes.run(write.taskId, () =>
      errors.guard(label, () =>
        retryLostRaces(BACKEND_NAME, label, async () => {
          const now = Date.now();
          const found = await client.execute(this.cql.readGuard, [write.taskId], readOptions);
          const row = found.first();
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
    const found = await this.run("tasks", `read of task ${taskId}`, this.cql.readTask, [taskId]);
    return decodeTask(found.first(), taskId);
  }

  /** A round trip per 100 ids (`IN`, newest row of each partition), all in flight at once. */
  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const label = `read of ${taskIds.length} tasks`;
    const batches = chunks([...new Set(taskIds)], READ_MANY_CHUNK);
    const found = await Promise.all(
      batches.map((ids) => this.run("tasks", label, this.cql.readTasks, [ids])),
    );
    const rows = new Map(found.flatMap((result) => result.rows).map((row) => [row.task_id, row]));
    return taskIds.map((id) => decodeTask(rows.get(id), id));
  }

  /** SAI selects, the client orders: every match is read once per call (README: Finding tasks). */
  async find(query: FindQuery): Promise<TaskRecord[]> {
    const context = await this.findContext();
    return errors.guard("find of tasks", () => findTasks(context, query));
  }

  async countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    const context = await this.findContext();
    return errors.guard("count of tasks", () => countTasks(context, query));
  }

  async remove(taskId: string): Promise<void> {
    await this.run("tasks", `removal of task ${taskId}`, this.cql.deleteTask, [taskId]);
  }

  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.counters.incr(key, by, expiresAt);
  }

  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return addToSet(await this.context("sets"), key, member, expiresAt);
  }

  async removeCounter(key: string): Promise<void> {
    await this.run("counters", `removal of counter ${key}`, this.cql.deleteCounter, [key]);
  }

  async saveGroup(group: GroupRecord): Promise<void> {
    const params = encodeGroup(group);
    await this.run("groups", `save of group ${group.groupId}`, this.cql.saveGroup, params);
  }

  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const label = `read of group ${groupId}`;
    const row = (await this.run("groups", label, this.cql.readGroup, [groupId])).first();
    return row ? decodeGroup(row, groupId) : null;
  }

  async removeGroup(groupId: string): Promise<void> {
    await this.run("groups", `removal of group ${groupId}`, this.cql.deleteGroup, [groupId]);
  }

  /** Cassandra deletes what expired (TTL); this waits out the TTL's whole second after `now`. */
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

  /** One statement once the `kind` table is ready: a SELECT at `readConsistency`, else write's. */
  private async run(kind: TableKind, label: string, cql: string, params: unknown[]) {
    const client = await this.schema.ready(kind);
    const { readOptions, writeOptions } = this.config;
    const options = cql.startsWith("SELECT") ? readOptions : writeOptions;
    return errors.guard(label, () => client.execute(cql, params, options));
  }

  private async findContext(): Promise<FindContext> {
    const { names, readOptions: options } = this.config;
    const client = await this.schema.ready("tasks");
    const readMany = (ids: string[]) => this.readMany(ids);
    return { client, names, cql: this.cql, options, readMany };
  }

  private async context(kind: TableKind): Promise<Context> {
    return { client: await this.schema.ready(kind), cql: this.cql, config: this.config };
  }
}

/** `createStore("cassandra://…")` lands here (`BackendModule` says how options and URL merge). */
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
