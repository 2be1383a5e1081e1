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
import { canTransition, statesRefusing, ValueTooLargeError } from "@resultstore/core";
import { chunks, LazyConnection, mergeUrlOptions } from "@resultstore/core/backend";
import { BSON, type MongoClient } from "mongodb";
import { buildClient, connect } from "./client.js";
import { BACKEND_NAME, type ResolvedConfig, resolveConfig } from "./config.js";
import { addToSet, incr } from "./counters.js";
import { DUPLICATE_KEY, droppedAlready, errors, MAX_DOCUMENT_BYTES } from "./errors.js";
import { countTasks, findTasks } from "./find.js";
import {
  decodeGroup,
  decodeTask,
  encodeGroup,
  encodeTask,
  expiredFilter,
  WRITE_ID_FIELD,
} from "./records.js";
import type { MongoBackendOptions } from "./types.js";

/** What core may measure for a record: room is left for our fields, BSON framing and metadata. */
const MAX_RECORD_BYTES = MAX_DOCUMENT_BYTES - 64 * 1024;
const ID_BATCH = 1000;

/**
 * The MongoDB backend: each task write is ONE guarded `updateOne` with `$set` and `upsert`, whose
 * filter admits only documents the state rules let change. MongoDB updates one document atomically,
 * so check and merge happen together on the server; when the filter excludes the stored document,
 * the upsert's insert collides with its `_id` (E11000): "refused".
 */
export class MongoBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  readonly telemetry: BackendTelemetry;
  readonly isRetryable = errors.isRetryable;
  private readonly config: ResolvedConfig;
  private readonly client: MongoClient;
  private readonly connection = new LazyConnection(BACKEND_NAME, () =>
    errors.guard(`provisioning of database ${this.config.database}`, () =>
      connect(this.client, this.config),
    ),
  );

  constructor(options: MongoBackendOptions) {
    this.config = resolveConfig(options);
    this.client = buildClient(this.config);
    this.capabilities = { nativeExpiry: this.config.ttlIndex, maxRecordBytes: MAX_RECORD_BYTES };
    const { database: namespace, collections: collection, endpoint } = this.config;
    this.telemetry = { system: "mongodb", namespace, collection, ...endpoint };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const { tasks, layout, guardWrite } = await this.connection.get();
    const update = encodeTask(write, layout); // EncodeError before anything is sent
    // Measured here because not every MongoDB-wire server enforces BSON's limit.
    const { $set, $setOnInsert, $max } = update;
    const size = BSON.calculateObjectSize({ _id: write.taskId, ...$set, ...$setOnInsert, ...$max });
    if (size > MAX_DOCUMENT_BYTES)
      throw new ValueTooLargeError(BACKEND_NAME, size, MAX_DOCUMENT_BYTES);
    const label = `write of task ${write.taskId}`;
    const now = new Date();
    const live = { $nor: [expiredFilter(now, this.config.resultExpires)] }; // expired counts as absent
    const filter = { _id: write.taskId, status: { $nin: [...statesRefusing(write.status)] } };
    const upsert = () =>
      guardWrite(
        label,
        () => tasks.updateOne({ ...filter, ...live }, update, { upsert: true }).then(() => true),
        errors.on([DUPLICATE_KEY], false), // refused
      );
    if (await upsert()) return { applied: true };
    // The insert met a stored document. Mostly a live one refusing the write: one read of its status
    // says so (a refusal costs 2 round trips). Else it has expired (deleted: the write starts
    // afresh) or a concurrent writer inserted it first; one more guarded upsert settles either.
    const projection = { status: 1, [WRITE_ID_FIELD]: 1 };
    const doc = await errors.guard(label, () =>
      tasks.findOne({ _id: write.taskId, ...live }, { projection }),
    );
    // A document carrying this very call's write id means the call was sent again after it landed
    // (its answer lost): it was applied, as any other write since would have replaced the id.
    if (doc && write.writeId && doc[WRITE_ID_FIELD] === write.writeId) return { applied: true };
    if (doc && !canTransition(doc.status, write.status)) return { applied: false };
    const expired = { _id: write.taskId, ...expiredFilter(now, this.config.resultExpires) };
    if (!doc) await guardWrite(label, () => tasks.deleteOne(expired));
    return { applied: await upsert() };
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const { tasks } = await this.connection.get();
    const doc = await errors.guard(`read of task ${taskId}`, () => tasks.findOne({ _id: taskId }));
    return doc && decodeTask(doc, this.config.resultExpires);
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const { tasks } = await this.connection.get();
    const found = new Map<string, TaskRecord>();
    for (const batch of chunks(taskIds, ID_BATCH)) {
      const ids = [...new Set(batch)];
      const docs = await errors.guard(`read of ${ids.length} tasks`, () =>
        tasks.find({ _id: { $in: ids } }).toArray(),
      );
      for (const doc of docs) found.set(doc._id, decodeTask(doc, this.config.resultExpires));
    }
    return taskIds.map((id) => found.get(id) ?? null);
  }

  /** Two index-ordered queries, ours and Celery's documents, merged (find.ts). */
  async find(query: FindQuery): Promise<TaskRecord[]> {
    const { tasks } = await this.connection.get();
    return errors.guard("find of tasks", () => findTasks(tasks, query, this.config.resultExpires));
  }

  /** One aggregation: `$match`, then `$group` by status (find.ts). */
  async countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    const { tasks } = await this.connection.get();
    return errors.guard("count of tasks", () =>
      countTasks(tasks, query, this.config.resultExpires),
    );
  }

  async remove(taskId: string): Promise<void> {
    const { tasks, guardWrite } = await this.connection.get();
    await guardWrite(`removal of task ${taskId}`, () => tasks.deleteOne({ _id: taskId }));
  }

  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return incr(await this.connection.get(), key, by, expiresAt);
  }

  async removeCounter(key: string): Promise<void> {
    const { counters, guardWrite } = await this.connection.get();
    await guardWrite(`removal of counter ${key}`, () => counters.deleteOne({ _id: key }));
  }

  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return addToSet(await this.connection.get(), key, member, expiresAt);
  }

  async saveGroup(group: GroupRecord): Promise<void> {
    const { groups, guardWrite } = await this.connection.get();
    const update = encodeGroup(group, this.config.resultSerializer);
    await guardWrite(`save of group ${group.groupId}`, () =>
      groups.updateOne({ _id: group.groupId }, update, { upsert: true }),
    );
  }

  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const { groups } = await this.connection.get();
    const label = `read of group ${groupId}`;
    const doc = await errors.guard(label, () => groups.findOne({ _id: groupId }));
    return doc && decodeGroup(doc, this.config.resultExpires);
  }

  async removeGroup(groupId: string): Promise<void> {
    const { groups, guardWrite } = await this.connection.get();
    await guardWrite(`removal of group ${groupId}`, () => groups.deleteOne({ _id: groupId }));
  }

  /** Deletes expired documents in batches of `cleanupBatchSize`, so no single delete runs unbounded. */
  async cleanup(now: Date): Promise<number> {
    const { tasks, groups, counters, sets, guardWrite } = await this.connection.get();
    // Celery's documents expire by `date_done`; counters and sets always carry our `expires_at`.
    const filter = expiredFilter(now, this.config.resultExpires);
    const limit = this.config.cleanupBatchSize;
    let removed = 0;
    for (const collection of [tasks, groups, counters, sets]) {
      for (;;) {
        const found = await errors.guard("cleanup", () =>
          collection.find(filter, { projection: { _id: 1 }, limit }).toArray(),
        );
        if (found.length === 0) break;
        const ids = found.map((doc) => doc._id);
        const result = await guardWrite("cleanup", () =>
          collection.deleteMany({ _id: { $in: ids }, ...filter }),
        );
        removed += result.deletedCount;
        if (found.length < limit) break;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.connection.close(() => this.config.ownsClient && this.client.close());
  }

  /** Drops this namespace's four collections (and so their indexes, recreated on next use). */
  async destroy(): Promise<void> {
    const { tasks, groups, counters, sets } = await this.connection.get();
    this.connection.reset();
    for (const collection of [tasks, groups, counters, sets]) {
      const label = `drop of collection ${collection.collectionName}`;
      await errors.guard(label, () => collection.drop(), droppedAlready);
    }
  }
}

/** `createStore("mongodb://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(url: string, options: BackendUrlOptions & MongoBackendOptions = {}) {
  return new MongoBackend(mergeUrlOptions({ url }, options));
}
