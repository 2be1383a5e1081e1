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
  type BackendCapabilities,
  type BackendTelemetry,
  type BackendUrlOptions,
  type GroupRecord,
  type ResultBackend,
  type TaskRecord,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import {
  applyWrite,
  assertRecordFits,
  endpointOf,
  IncrementBatcher,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  retryLostRaces,
} from "@resultstore/core/backend";
import cassandra from "cassandra-driver";
import { buildClient } from "./client.js";
import { BACKEND_NAME, optionsFromUrl, type ResolvedConfig, resolveConfig } from "./config.js";
import { addToCounter } from "./counters.js";
import { beforeSending, errors, lightweightTransaction } from "./errors.js";
import {
  decodeGroup,
  decodeTask,
  encodeGroup,
  encodeTask,
  storedWriteId,
  ttlSeconds,
} from "./records.js";
import { Schema, type Statements, statements, type TableKind } from "./schema.js";
import { addMember } from "./sets.js";
import type { CassandraBackendOptions, ConsistencyName, SerialConsistencyName } from "./types.js";

/** Ids per `SELECT … IN` of readMany. */
const READ_MANY_CHUNK = 100;

/**
 * The driver's value for a consistency name. Its `types.consistencies` keys are camelCase
 * (`localQuorum`, `localSerial`), so the CQL names Celery and our options use are mapped one by
 * one: looking "LOCAL_QUORUM" up directly finds nothing, and the driver then silently uses its
 * default (LOCAL_ONE) for every query.
 */
const LEVELS: Record<ConsistencyName | SerialConsistencyName, number> = {
  ANY: cassandra.types.consistencies.any,
  ONE: cassandra.types.consistencies.one,
  TWO: cassandra.types.consistencies.two,
  THREE: cassandra.types.consistencies.three,
  QUORUM: cassandra.types.consistencies.quorum,
  ALL: cassandra.types.consistencies.all,
  LOCAL_QUORUM: cassandra.types.consistencies.localQuorum,
  EACH_QUORUM: cassandra.types.consistencies.eachQuorum,
  LOCAL_ONE: cassandra.types.consistencies.localOne,
  SERIAL: cassandra.types.consistencies.serial,
  LOCAL_SERIAL: cassandra.types.consistencies.localSerial,
};
const level = (name: ConsistencyName | SerialConsistencyName) => LEVELS[name];

/** The Cassandra / Astra DB backend: Celery's table layout, lightweight transactions for the state rules, native TTL. */
export class CassandraBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  readonly telemetry: BackendTelemetry;
  private readonly config: ResolvedConfig;
  private readonly cql: Statements;
  private readonly schema: Schema;
  private readonly ownsClient: boolean;
  private readonly client: cassandra.Client;
  private readonly connection = new LazyConnection(BACKEND_NAME, async () => {
    await this.client.connect();
    return this.client;
  });
  private readonly writes = new KeyedQueue();
  /** Same-key increments in this process share one transaction (see counters.ts). */
  private readonly counters = new IncrementBatcher(async (key, by, expiresAt) => {
    const context = {
      client: await this.ready("counters"),
      cql: this.cql,
      readOptions: this.readOptions,
      writeOptions: this.sendOnce,
    };
    return errors.guard(`incr of ${key}`, () => addToCounter(context, key, by, expiresAt));
  });
  private readonly readOptions: cassandra.QueryOptions;
  private readonly writeOptions: cassandra.QueryOptions;
  /** Task writes and lightweight transactions: never re-sent by the driver (see the constructor). */
  private readonly sendOnce: cassandra.QueryOptions;

  constructor(options: CassandraBackendOptions) {
    this.config = resolveConfig(options);
    this.client = options.client ?? buildClient(options);
    this.ownsClient = !options.client || options.closeClient === true;
    this.cql = statements(this.config.names);
    this.schema = new Schema(() => this.connection.get(), this.config);
    this.capabilities = { nativeExpiry: true, maxRecordBytes: this.config.maxRecordBytes };
    const { keyspace, ...collection } = this.config.names;
    this.telemetry = {
      system: "cassandra",
      namespace: keyspace,
      collection,
      ...endpointOf(options.contactPoints?.[0], options.port ?? 9042),
    };
    this.readOptions = { prepare: true, consistency: level(this.config.readConsistency) };
    this.writeOptions = {
      prepare: true,
      consistency: level(this.config.writeConsistency),
      serialConsistency: level(this.config.serialConsistency),
    };
    // A lightweight transaction re-sent after its answer was lost applies once and then fails its
    // condition, which reads as a lost race: the write or increment runs again and an increment
    // counts twice. The driver re-sends (retry policy, speculative executions) only statements
    // marked idempotent, so ours say they are not, whatever `driverOptions.queryOptions` say. (An
    // unguarded task write re-sent late could also overwrite a newer one: not idempotent either.)
    this.sendOnce = { ...this.writeOptions, isIdempotent: false };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const client = await this.ready("tasks");
    return this.writes.run(write.taskId, () =>
      errors.guard(`write of ${write.taskId}`, () => this.writeLoop(client, write)),
    );
  }

  private writeLoop(client: cassandra.Client, write: TaskWrite): Promise<WriteOutcome> {
    return retryLostRaces(BACKEND_NAME, `write of ${write.taskId}`, async () => {
      const now = Date.now();
      const row =
        (await client.execute(this.cql.readGuard, [write.taskId], this.readOptions)).first() ??
        undefined;
      const stored = decodeTask(row, write.taskId, now);
      const next = applyWrite(stored, write, new Date(now));
      // Refused, unless the stored record is this very call's: sent again after it landed.
      if (!next) return { applied: !!write.writeId && storedWriteId(row) === write.writeId };
      if (stored)
        assertRecordFits(BACKEND_NAME, next, write.resultJson, this.config.maxRecordBytes);
      const guard = {
        version: (row?.get("rs_version") as number | null | undefined) ?? null,
        token: (row?.get("rs_token") as cassandra.types.Uuid | null | undefined) ?? null,
      };
      const superseded = stored ? (row?.get("date_done") as Date) : null;
      const batch = this.writeBatch(write, next, guard, superseded, now);
      const outcome = this.config.guardedWrites
        ? await lightweightTransaction(`write of ${write.taskId}`, () =>
            client.batch(batch, this.sendOnce),
          )
        : await client.batch(batch, this.sendOnce);
      // Otherwise another process wrote in between: read again and re-decide.
      return !this.config.guardedWrites || outcome.wasApplied() ? { applied: true } : LOST_RACE;
    });
  }

  /**
   * One partition, so Cassandra applies it atomically (and, with the IF, under Paxos). The guard
   * is the token read with the record: a new random UUID per write, so a writer that read an
   * earlier incarnation of the task (before `forget` or expiry) never matches a re-created one,
   * however many writes it has had. The version is still bumped and checked, for stores of the
   * previous release (which guard on it alone) writing the same table during an upgrade.
   */
  private writeBatch(
    write: TaskWrite,
    next: TaskRecord,
    guard: { version: number | null; token: cassandra.types.Uuid | null },
    superseded: Date | null,
    now: number,
  ) {
    const ttl = ttlSeconds(next.expiresAt, now);
    // EncodeError here, before anything is sent.
    const row = encodeTask(next, write.resultJson, write.writeId);
    // The new row must sort first (Celery reads the newest): never at or before the one it replaces.
    const rowTime = Math.max(
      (next.dateDone ?? new Date(now)).getTime(),
      (superseded?.getTime() ?? 0) + 1,
    );
    const token = cassandra.types.Uuid.random();
    const statics = [ttl, (guard.version ?? 0) + 1, token, row.meta, next.expiresAt, write.taskId];
    const queries: { query: string; params: unknown[] }[] = [
      this.config.guardedWrites
        ? { query: this.cql.guardedStatics, params: [...statics, guard.version, guard.token] }
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
    return errors.guard(`read of ${taskId}`, async () => {
      const result = await client.execute(this.cql.readTask, [taskId], this.readOptions);
      return decodeTask(result.first() ?? undefined, taskId);
    });
  }

  /**
   * One `SELECT … WHERE task_id IN ? PER PARTITION LIMIT 1` per `READ_MANY_CHUNK` ids, all in
   * flight: a round trip per 100 ids instead of one per id. (On a many-node cluster a coordinator
   * fans an IN out to the replicas; that is still one request from here.)
   */
  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const client = await this.ready("tasks");
    return errors.guard(`read of ${taskIds.length} tasks`, async () => {
      const rows = new Map<string, cassandra.types.Row>();
      const chunks: string[][] = [];
      const unique = [...new Set(taskIds)];
      for (let i = 0; i < unique.length; i += READ_MANY_CHUNK)
        chunks.push(unique.slice(i, i + READ_MANY_CHUNK));
      await Promise.all(
        chunks.map(async (chunk) => {
          const result = await client.execute(this.cql.readTasks, [chunk], this.readOptions);
          for (const row of result.rows) rows.set(row.get("task_id") as string, row);
        }),
      );
      return taskIds.map((id) => decodeTask(rows.get(id), id));
    });
  }

  async remove(taskId: string): Promise<void> {
    const client = await this.ready("tasks");
    await errors.guard(`remove of ${taskId}`, () =>
      client.execute(this.cql.deleteTask, [taskId], this.writeOptions),
    );
  }

  /** See counters.ts: a compare-and-set with a TTL, concurrent calls batched per key. */
  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.counters.incr(key, by, expiresAt);
  }

  /** See sets.ts: a map of member → expiry, updated without Paxos (adding twice adds once). */
  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    const context = {
      client: await this.ready("sets"),
      cql: this.cql,
      readOptions: this.readOptions,
      writeOptions: this.writeOptions,
    };
    return errors.guard(`add to set ${key}`, () => addMember(context, key, member, expiresAt));
  }

  async removeCounter(key: string): Promise<void> {
    const client = await this.ready("counters");
    await errors.guard(`removal of counter ${key}`, () =>
      client.execute(this.cql.deleteCounter, [key], this.writeOptions),
    );
  }

  /** Stores a group's member ids in Celery's layout (`celery-taskset-meta-<id>`). */
  async saveGroup(group: GroupRecord): Promise<void> {
    const client = await this.ready("groups");
    const params = encodeGroup(group);
    await errors.guard(`save of group ${group.groupId}`, () =>
      client.execute(this.cql.saveGroup, params, this.writeOptions),
    );
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const client = await this.ready("groups");
    return errors.guard(`read of group ${groupId}`, async () => {
      const row = (await client.execute(this.cql.readGroup, [groupId], this.readOptions)).first();
      return row ? decodeGroup(row, groupId) : null;
    });
  }

  /** Deletes a saved group. */
  async removeGroup(groupId: string): Promise<void> {
    const client = await this.ready("groups");
    await errors.guard(`removal of group ${groupId}`, () =>
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
    await this.connection.close((client) => client && this.ownsClient && client.shutdown());
  }

  /** Drops this namespace's tables (or keyspace); truncates configured tables. */
  async destroy(): Promise<void> {
    await errors.guard("destroy", () => this.schema.destroy());
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  /** The client, once the `kind` table is usable. Nothing of the caller's call is sent before. */
  private async ready(kind: TableKind): Promise<cassandra.Client> {
    try {
      await this.schema.ensure(kind);
      return await this.connection.get();
    } catch (error) {
      throw beforeSending(error, "connect");
    }
  }
}

/** `createStore("cassandra://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & CassandraBackendOptions = {},
): CassandraBackend {
  return new CassandraBackend(mergeUrlOptions(optionsFromUrl(url), options));
}

/** Runs tasks one at a time per key, so this process never races itself through Paxos. */
class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
