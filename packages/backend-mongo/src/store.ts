/**
 * The MongoDB backend: each task write is ONE guarded `updateOne` with `$set` and `upsert`, whose
 * filter admits only documents the state rules let change. MongoDB applies an update to a single
 * document atomically, so the check and the merge happen together on the server; when the filter
 * excludes the stored document, the upsert's insert collides with its `_id` (E11000), which means
 * "refused".
 */
import {
  type BackendCapabilities,
  type BackendTelemetry,
  type BackendUrlOptions,
  canTransition,
  type GroupRecord,
  type ResultBackend,
  type TaskRecord,
  type TaskWrite,
  ValueTooLargeError,
  type WriteOutcome,
} from "@resultstore/core";
import {
  endpointOf,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  retryLostRaces,
} from "@resultstore/core/backend";
import {
  BSON,
  type Collection,
  type Document,
  type FindOptions,
  type MongoClient,
  MongoServerSelectionError,
} from "mongodb";
import {
  buildClient,
  ferretDbVersion,
  unsafeEngineWarning,
  warnOncePerProcess,
  writesMayBeResent,
} from "./client.js";
import { BACKEND_NAME, type ResolvedConfig, resolveConfig } from "./config.js";
import {
  DUPLICATE_KEY,
  errors,
  INDEX_CONFLICTS,
  MAX_DOCUMENT_BYTES,
  NAMESPACE_NOT_FOUND,
  NOT_IMPLEMENTED,
  serverCode,
  WriteMayHaveBeenSent,
} from "./errors.js";
import {
  decodeGroup,
  decodeTask,
  EXPIRES_FIELD,
  encodeGroup,
  encodeTask,
  expiredFilter,
  type Layout,
  liveFilter,
  type TaskDocument,
  WRITE_ID_FIELD,
  writableFilter,
} from "./records.js";
import type { MongoBackendOptions } from "./types.js";

/**
 * What core may measure for a record: the limit minus room for our field names, `expires_at` and
 * BSON's per-field framing (a few hundred bytes in practice; 64 KiB leaves metadata room to grow).
 */
const MAX_RECORD_BYTES = MAX_DOCUMENT_BYTES - 64 * 1024;
/** `$in` lists per round trip in `readMany` and `cleanup`. */
const ID_BATCH = 1000;

interface Collections {
  tasks: Collection<TaskDocument>;
  groups: Collection<TaskDocument>;
  counters: Collection<TaskDocument>;
  sets: Collection<TaskDocument>;
}

/** The MongoDB backend: Celery's document layout, guarded `$set` upserts for the state rules, a TTL index. */
export class MongoBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  readonly telemetry: BackendTelemetry;
  private readonly config: ResolvedConfig;
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  /** Connects once and creates the indexes once per store (`open`). */
  private readonly connection = new LazyConnection(BACKEND_NAME, () =>
    errors.guard("connect", () => this.open()),
  );
  private layout: Layout;
  /** Whether the driver may send a write twice (see `writesMayBeResent`); learnt on connecting. */
  private writesResent = true;
  private readonly warn: (message: string) => void;

  constructor(options: MongoBackendOptions) {
    this.config = resolveConfig(options);
    this.warn = options.warn ?? warnOncePerProcess;
    this.ownsClient = !options.client || options.closeClient === true;
    this.client = options.client ?? buildClient(this.config);
    this.capabilities = { nativeExpiry: this.config.ttlIndex, maxRecordBytes: MAX_RECORD_BYTES };
    this.telemetry = {
      system: "mongodb",
      namespace: this.config.database,
      collection: this.config.collections,
      // The first host of the connection string (an SRV name has no port of its own); none for
      // a client the caller built.
      ...endpointOf(
        /^mongodb(?:\+srv)?:\/\/(?:[^@/?]*@)?([^,/?]+)/i.exec(this.config.url ?? "")?.[1],
        /^mongodb\+srv:/i.test(this.config.url ?? "") ? undefined : 27017,
      ),
    };
    this.layout = {
      serializer: this.config.resultSerializer,
      nestedArrays: true,
      insertsNulls: true,
      decimal128: true,
    };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const { tasks } = await this.connection.get();
    const update = encodeTask(write, this.layout); // EncodeError before anything is sent
    const size = BSON.calculateObjectSize({
      _id: write.taskId,
      ...update.$set,
      ...update.$setOnInsert,
      ...update.$max,
    });
    if (size > MAX_DOCUMENT_BYTES)
      throw new ValueTooLargeError(BACKEND_NAME, size, MAX_DOCUMENT_BYTES);
    const now = new Date();
    if (await this.guardedUpsert(tasks, write, update, now)) return { applied: true };
    // The insert collided with a stored document. Most often it is live and refuses the write: one
    // read of its status says so (a refusal costs 2 round trips). Otherwise it has expired (an
    // expired record counts as absent: it is deleted and the write starts afresh), or a concurrent
    // writer inserted it first; one more guarded attempt settles either.
    const live = await errors.guard("write", () =>
      tasks.findOne(
        { _id: write.taskId, ...liveFilter(now, this.config.resultExpires) },
        { projection: { status: 1, [WRITE_ID_FIELD]: 1 } },
      ),
    );
    // A document carrying this very call's write id means the call was sent again after it landed
    // (its answer lost): it was applied, as any other write since would have replaced the id.
    if (live && write.writeId && live[WRITE_ID_FIELD] === write.writeId) return { applied: true };
    if (live && !canTransition(live.status, write.status)) return { applied: false };
    if (!live)
      await errors.guard("write", () =>
        this.sending(() => tasks.deleteOne({ _id: write.taskId, ...this.expired(now) })),
      );
    return { applied: await this.guardedUpsert(tasks, write, update, now) };
  }

  private async guardedUpsert(
    tasks: Collection<TaskDocument>,
    write: TaskWrite,
    update: Document,
    now: Date,
  ) {
    const result = await errors.guard(
      "write",
      () =>
        this.sending(() =>
          tasks.updateOne(writableFilter(write, now, this.config.resultExpires), update, {
            upsert: true,
          }),
        ),
      errors.on([DUPLICATE_KEY], null),
    );
    return result !== null; // null: refused, see `write`
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const { tasks } = await this.connection.get();
    const doc = await errors.guard("read", () =>
      tasks.findOne({ _id: taskId }, this.findOptions()),
    );
    return doc && decodeTask(doc, this.config.resultExpires);
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const { tasks } = await this.connection.get();
    const found = new Map<string, TaskRecord>();
    for (let i = 0; i < taskIds.length; i += ID_BATCH) {
      const batch = [...new Set(taskIds.slice(i, i + ID_BATCH))];
      const docs = await errors.guard("readMany", () =>
        tasks.find({ _id: { $in: batch } }, this.findOptions()).toArray(),
      );
      for (const doc of docs) found.set(doc._id, decodeTask(doc, this.config.resultExpires));
    }
    return taskIds.map((id) => found.get(id) ?? null);
  }

  async remove(taskId: string): Promise<void> {
    const { tasks } = await this.connection.get();
    await errors.guard("remove", () => this.sending(() => tasks.deleteOne({ _id: taskId })));
  }

  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const { counters } = await this.connection.get();
    // $inc on the live counter, or an insert starting at `by`: one atomic server-side step.
    const update = { $inc: { value: by }, $set: { [EXPIRES_FIELD]: expiresAt } };
    return Number((await this.upsertLive(counters, key, update, "incr"))?.value);
  }

  async removeCounter(key: string): Promise<void> {
    const { counters } = await this.connection.get();
    await errors.guard("removeCounter", () => this.sending(() => counters.deleteOne({ _id: key })));
  }

  /**
   * `$addToSet` on the live set, or an insert holding just `member`: one atomic server-side step
   * (on MongoDB; FerretDB 1.x loses concurrent updates of one document, see the README), whose
   * answer is the document after it, so the size is read no earlier than the add. Sets live in
   * their own collection. An expired set is deleted and started afresh, as `incr` does.
   */
  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    const { sets } = await this.connection.get();
    const update = { $addToSet: { members: member }, $set: { [EXPIRES_FIELD]: expiresAt } };
    // FerretDB 1.x implements no projection here, so the whole document comes back.
    const doc = await this.upsertLive(sets, key, update, "addToSet");
    return Array.isArray(doc?.members) ? doc.members.length : 0;
  }

  /**
   * `update` applied to the live document `key` (or to a new one, by upsert), returning the
   * document after it. A stored document that expired is excluded by the filter, so the upsert's
   * insert collides with it (duplicate key): it is deleted and the update starts afresh; the same
   * retry settles two first updates racing to insert.
   */
  private upsertLive(
    collection: Collection<TaskDocument>,
    key: string,
    update: Document,
    operation: string,
  ): Promise<TaskDocument | null> {
    const now = new Date();
    return retryLostRaces(BACKEND_NAME, `${operation} of ${key}`, async () => {
      const doc = await errors.guard(
        operation,
        () =>
          this.sending(() =>
            collection.findOneAndUpdate({ _id: key, ...liveFilter(now, null) }, update, {
              upsert: true,
              returnDocument: "after",
            }),
          ),
        errors.on([DUPLICATE_KEY], LOST_RACE),
      );
      if (doc !== LOST_RACE) return doc;
      await errors.guard(operation, () =>
        this.sending(() => collection.deleteOne({ _id: key, [EXPIRES_FIELD]: { $lte: now } })),
      );
      return LOST_RACE;
    });
  }

  /** Stores a group's member ids in Celery's layout (`celery-taskset-meta-<id>`). */
  async saveGroup(group: GroupRecord): Promise<void> {
    const { groups } = await this.connection.get();
    const update = encodeGroup(group, this.config.resultSerializer);
    await errors.guard("saveGroup", () =>
      this.sending(() => groups.updateOne({ _id: group.groupId }, update, { upsert: true })),
    );
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const { groups } = await this.connection.get();
    const doc = await errors.guard("readGroup", () => groups.findOne({ _id: groupId }));
    return doc && decodeGroup(doc, this.config.resultExpires);
  }

  /** Deletes a saved group. */
  async removeGroup(groupId: string): Promise<void> {
    const { groups } = await this.connection.get();
    await errors.guard("removeGroup", () => this.sending(() => groups.deleteOne({ _id: groupId })));
  }

  /** Deletes expired documents in batches of `cleanupBatchSize`, so no single delete runs unbounded. */
  async cleanup(now: Date): Promise<number> {
    const { tasks, groups, counters, sets } = await this.connection.get();
    let removed = 0;
    for (const [collection, filter] of [
      [tasks, this.expired(now)],
      [groups, this.expired(now)],
      [counters, expiredFilter(now, null)],
      [sets, expiredFilter(now, null)],
    ] as const) {
      for (;;) {
        const ids = await errors.guard("cleanup", () =>
          collection
            .find(filter, { projection: { _id: 1 }, limit: this.config.cleanupBatchSize })
            .toArray(),
        );
        if (ids.length === 0) break;
        const result = await errors.guard("cleanup", () =>
          this.sending(() =>
            collection.deleteMany({ _id: { $in: ids.map((doc) => doc._id) }, ...filter }),
          ),
        );
        removed += result.deletedCount;
        if (ids.length < this.config.cleanupBatchSize) break;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.connection.close(() => this.ownsClient && this.client.close());
  }

  /** Drops this namespace's four collections (and so their indexes, recreated on next use). */
  async destroy(): Promise<void> {
    const collections = await this.connection.get();
    this.connection.reset();
    for (const collection of Object.values(collections)) {
      await errors.guard(
        "destroy",
        () => collection.drop(),
        errors.on([NAMESPACE_NOT_FOUND], false),
      );
    }
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  /**
   * Runs one driver write. Where the driver may send a write twice (`writesResent`), a failed
   * server selection may be its second copy's, after the first was sent: it is re-typed, so only
   * a selection failure that nothing preceded reads as "nothing was sent" (errors.ts).
   */
  private async sending<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (error instanceof MongoServerSelectionError && this.writesResent)
        throw new WriteMayHaveBeenSent(error);
      throw error;
    }
  }

  private expired(now: Date): Document {
    return expiredFilter(now, this.config.resultExpires);
  }

  private findOptions(): FindOptions {
    // Int64 values keep their precision in native results (read back as BigInt beyond 2^53).
    return this.config.resultSerializer === "bson" ? { promoteLongs: false } : {};
  }

  private async open(): Promise<Collections> {
    await this.client.connect();
    this.writesResent = await writesMayBeResent(this.client);
    const version = await ferretDbVersion(this.client);
    const warning = unsafeEngineWarning(version);
    if (warning) this.warn(warning);
    const ferretDb = version !== undefined;
    this.layout = {
      ...this.layout,
      nestedArrays: !ferretDb,
      insertsNulls: !ferretDb,
      decimal128: !ferretDb,
    };
    const db = this.client.db(this.config.database);
    const { tasks, groups, counters, sets } = this.config.collections;
    const collections: Collections = {
      tasks: db.collection<TaskDocument>(tasks),
      groups: db.collection<TaskDocument>(groups),
      counters: db.collection<TaskDocument>(counters),
      sets: db.collection<TaskDocument>(sets),
    };
    await Promise.all([
      // Exactly the index Celery creates (`background` is ignored since MongoDB 4.2), so a
      // collection Celery also uses never holds two specs under one name.
      collections.tasks.createIndex({ date_done: 1 }, { background: true }),
      collections.groups.createIndex({ date_done: 1 }, { background: true }),
      ...Object.values(collections).map((collection) => this.expiryIndex(collection)),
    ]);
    return collections;
  }

  /** A TTL index when asked for and supported (FerretDB answers 238), else a plain one for cleanup. */
  private async expiryIndex(collection: Collection<TaskDocument>): Promise<void> {
    const tolerate = (error: unknown) => {
      if (!INDEX_CONFLICTS.includes(serverCode(error) ?? 0)) throw error; // exists with the other options
    };
    if (this.config.ttlIndex) {
      try {
        await collection.createIndex({ [EXPIRES_FIELD]: 1 }, { expireAfterSeconds: 0 });
        return;
      } catch (error) {
        if (serverCode(error) !== NOT_IMPLEMENTED) return tolerate(error);
      }
    }
    await collection.createIndex({ [EXPIRES_FIELD]: 1 }).catch(tolerate);
  }
}

/** `createStore("mongodb://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & MongoBackendOptions = {},
): MongoBackend {
  return new MongoBackend(mergeUrlOptions({ url }, options));
}
