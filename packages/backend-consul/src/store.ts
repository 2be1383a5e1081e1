/** `ConsulBackend`: Celery's Consul key layout, every write a check-and-set (sessions.ts). */
import {
  type BackendCapabilities,
  BackendError,
  type BackendTelemetry,
  type BackendUrlOptions,
  ConfigurationError,
  type CountQuery,
  type FindQuery,
  type GroupRecord,
  type ResultBackend,
  type TaskRecord,
  type TaskState,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import {
  applyWrite,
  assertRecordFits,
  LazyConnection,
  LruMap,
  mapLimit,
  mergeUrlOptions,
} from "@resultstore/core/backend";
import { ConsulClient, type KvEntry } from "./client.js";
import { BACKEND_NAME, optionsFromUrl, resolveConfig } from "./config.js";
import { Counters } from "./counters.js";
import { errors } from "./errors.js";
import { TaskScan } from "./find.js";
import * as records from "./records.js";
import { type Change, ExpirySessions } from "./sessions.js";
import type { ConsulBackendOptions } from "./types.js";

/** Task keys known to exist; a write of any other first tries a create (README: "Round trips"). */
const SEEN_KEYS = 10_000;

/** Results in Consul KV, readable by Celery's `consul://` backend (options: `ConsulBackendOptions`). */
export class ConsulBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  readonly telemetry: BackendTelemetry;
  private readonly config;
  private readonly keys;
  /** There is no connection to open (HTTP keep-alive does that): the first call builds the client. */
  private readonly connection = new LazyConnection(BACKEND_NAME, async () => {
    const client = new ConsulClient(this.config);
    const sessions = new ExpirySessions(client, this.config);
    const tasks = new TaskScan(client, this.config.keyPrefix);
    return { client, sessions, counters: new Counters(sessions, this.keys), tasks };
  });
  private readonly seen = new LruMap<string, true>(SEEN_KEYS);

  constructor(options: ConsulBackendOptions = {}) {
    this.config = resolveConfig(options);
    this.keys = records.keysUnder(this.config.keyPrefix);
    this.capabilities = {
      nativeExpiry: this.config.sessionExpiry,
      maxRecordBytes: records.MAX_RECORD_BYTES,
    };
    this.telemetry = {
      system: "consul", // not a registered db.system.name value
      collection: this.config.keyPrefix || undefined,
      serverAddress: this.config.host,
      serverPort: this.config.port,
    };
  }

  /** The key prefix every key of this store starts with ("" or "a/b/"). */
  get keyPrefix(): string {
    return this.config.keyPrefix;
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const { taskId, writeId, resultJson } = write;
    const key = this.keys.task(taskId);
    const { sessions } = await this.connection.get();
    const decide = (entry: KvEntry | null): Change<boolean> => {
      const stored = entry ? records.decodeTask(entry.value, taskId) : null;
      const next = applyWrite(stored, write);
      // Refused, unless the stored value is this very call's: sent again after it landed.
      if (!next)
        return { skip: !!writeId && records.storedWriteId(entry?.value ?? "") === writeId };
      if (stored) assertRecordFits(BACKEND_NAME, next, resultJson, records.MAX_RECORD_BYTES);
      const value = records.encodeTask(next, resultJson, writeId);
      return { value, expiresAt: next.expiresAt, result: true };
    };
    const tryCreate = this.seen.get(key) === undefined;
    const applied = await sessions.checkAndSet(`write of task ${taskId}`, key, decide, tryCreate);
    this.seen.set(key, true); // applied or refused, the key exists now
    return { applied };
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const key = this.keys.task(taskId);
    const { client } = await this.connection.get();
    const entry = await errors.guard(`read of task ${taskId}`, () => client.get(key));
    if (entry) this.seen.set(key, true);
    return entry ? records.decodeTask(entry.value, taskId) : null;
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const { client } = await this.connection.get();
    const keys = taskIds.map((id) => this.keys.task(id));
    const entries = await errors.guard(`read of ${keys.length} tasks`, () => client.getMany(keys));
    return entries.map((entry, i) => entry && records.decodeTask(entry.value, taskIds[i] ?? ""));
  }

  async remove(taskId: string): Promise<void> {
    const key = this.keys.task(taskId);
    this.seen.delete(key);
    const { client } = await this.connection.get();
    await errors.guard(`removal of task ${taskId}`, () => client.delete(key));
  }

  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return (await this.connection.get()).counters.incr(key, by, expiresAt);
  }

  async removeCounter(key: string): Promise<void> {
    const { client } = await this.connection.get();
    await errors.guard(`removal of counter ${key}`, () => client.delete(this.keys.counter(key)));
  }

  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return (await this.connection.get()).counters.addToSet(key, member, expiresAt);
  }

  async saveGroup(group: GroupRecord): Promise<void> {
    const change = { value: records.encodeGroup(group), expiresAt: group.expiresAt, result: null };
    const { sessions } = await this.connection.get();
    const key = this.keys.group(group.groupId);
    await sessions.checkAndSet(`save of group ${group.groupId}`, key, () => change);
  }

  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const { client } = await this.connection.get();
    const read = () => client.get(this.keys.group(groupId));
    const entry = await errors.guard(`read of group ${groupId}`, read);
    return entry ? records.decodeGroup(entry.value, groupId) : null;
  }

  async removeGroup(groupId: string): Promise<void> {
    const { client } = await this.connection.get();
    const remove = () => client.delete(this.keys.group(groupId));
    await errors.guard(`removal of group ${groupId}`, remove);
  }

  /** Lists names, reads values a page at a time, deletes with `?cas=` (README: "cleanup(now)"). */
  async cleanup(now: Date): Promise<number> {
    const { client } = await this.connection.get();
    const prefix = this.config.keyPrefix;
    return errors.guard("cleanup", async () => {
      let removed = 0;
      for (const listed of records.listedPrefixes(prefix)) {
        const keys = (await client.listKeys(listed)).filter((k) => records.isOwnKey(k, prefix));
        await client.forEachBatch(keys, 1, async (entries) => {
          const expired = entries.filter(
            (entry): entry is KvEntry => !!entry && records.hasExpired(entry.value, now),
          );
          const deleted = await mapLimit(expired, expired.length, (entry) =>
            client.delete(entry.key, entry.modifyIndex),
          );
          removed += deleted.filter(Boolean).length;
        });
      }
      return removed;
    });
  }

  /** Idempotent. Sessions are left to expire: destroying one would delete the keys it holds. */
  async close(): Promise<void> {
    await this.connection.close((opened) => opened?.client.close());
  }

  /** Deletes every key under this store's prefix, and the sessions it created. */
  async destroy(): Promise<void> {
    const prefix = this.config.keyPrefix;
    if (prefix === "") {
      const message = "destroy() deletes a key prefix; this store has no prefix or namespace, ";
      throw new ConfigurationError(BACKEND_NAME, `${message}and would delete the whole KV store.`);
    }
    const { client, sessions } = await this.connection.get();
    await errors.guard(`removal of prefix ${prefix}`, async () => {
      const failures = await client.txn([{ verb: "delete-tree", key: prefix }]);
      if (failures) {
        const message = `Removal of prefix ${prefix} failed: ${failures[0]?.what}`;
        throw new BackendError(BACKEND_NAME, message);
      }
      await sessions.destroyAll();
    });
  }

  /** A scan of every task record under the prefix (README: "Finding tasks"). */
  async find(query: FindQuery): Promise<TaskRecord[]> {
    const { tasks } = await this.connection.get();
    return errors.guard("listing of tasks", () => tasks.find(query));
  }

  /** The same scan as find(), counting. */
  async countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    const { tasks } = await this.connection.get();
    return errors.guard("count of tasks", () => tasks.countByState(query));
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }
}

/** `createStore("consul://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(url: string, options: BackendUrlOptions & ConsulBackendOptions = {}) {
  return new ConsulBackend(mergeUrlOptions(optionsFromUrl(url), options));
}
