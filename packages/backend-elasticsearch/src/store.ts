/**
 * The Elasticsearch / OpenSearch backend. A write is `_create`, or an index guarded by the version
 * last seen (`if_seq_no`/`if_primary_term`); on 409 we re-read (realtime GET), settle whether the
 * attempt landed (attempts.ts), re-apply core's `applyWrite` and retry: the guard makes "read,
 * decide, write" one atomic step on the server (README, "How writes are atomic").
 */
import { randomUUID } from "node:crypto";
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
  type CeleryKeys,
  endpointOf,
  IncrementBatcher,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  retryLostRaces,
  SetAddBatcher,
  VersionCache,
} from "@resultstore/core/backend";
import { type SentAttempt, settle, writersAfter, wroteBy } from "./attempts.js";
import { type IndexApi, openIndex } from "./client.js";
import { BACKEND_NAME, type ResolvedConfig, resolveConfig } from "./config.js";
import { addMembers, addToCounter } from "./counters.js";
import { errors } from "./errors.js";
import { TaskFinder } from "./find.js";
import {
  decodeGroup,
  decodeTask,
  documentIds,
  encodeGroup,
  encodeTask,
  type StoredDocument,
  type TaskVersion,
  versionOf,
} from "./records.js";
import type { ElasticsearchBackendOptions } from "./types.js";

const APPLIED: WriteOutcome = { applied: true };

/** The Elasticsearch / OpenSearch backend: Celery's document layout, optimistic concurrency for the state rules. */
export class ElasticsearchBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  /** The index this backend reads and writes. */
  readonly index: string;
  readonly telemetry: BackendTelemetry;
  private readonly config: ResolvedConfig;
  private readonly ids: CeleryKeys;
  /** Connects once (the driver is imported on first use). */
  private readonly connection = new LazyConnection(BACKEND_NAME, () =>
    errors.guard("creation of the client", () => openIndex(this.config)),
  );
  /** Same-key increments in this process share one CAS round. */
  private readonly counters = new IncrementBatcher(async (key, by, expiresAt) =>
    addToCounter(await this.writable(), this.ids.counter(key), key, by, expiresAt),
  );
  /** Same-key set adds in this process share one CAS round. */
  private readonly sets = new SetAddBatcher(async (key, members, expiresAt) =>
    addMembers(await this.writable(), this.ids.set(key), key, members, expiresAt),
  );
  /** The version of the last 1000 tasks this process wrote or read (see core's VersionCache). */
  private readonly versions = new VersionCache<TaskVersion>(1000);
  /** `find` and `countByState`: searches (find.ts). */
  private readonly finder: TaskFinder;

  constructor(options: ElasticsearchBackendOptions = {}) {
    this.config = resolveConfig(options);
    this.index = this.config.index;
    const { driver, nodes } = this.config.connection;
    this.telemetry = {
      system: driver, // "elasticsearch" or "opensearch", both registered values
      collection: this.index,
      ...endpointOf(this.config.client ? undefined : nodes[0]),
    };
    this.ids = documentIds(this.config.keyPrefix);
    this.finder = new TaskFinder(() => this.readable(), this.ids, {
      refresh: this.config.refreshBeforeFind,
      provision: this.config.createIndex,
    });
    // No native TTL in Elasticsearch: expired records are hidden on read and removed by cleanup().
    this.capabilities = { nativeExpiry: false, maxRecordBytes: this.config.maxRecordBytes };
  }

  /** One request when this process saw the task last (its write or read) or it is new. */
  async write(write: TaskWrite): Promise<WriteOutcome> {
    const api = await this.writable();
    const id = this.ids.task(write.taskId);
    const operation = `write of task ${write.taskId}`;
    // Tags this write's documents, so a request that landed and then met a 409 (re-sent by the
    // client or by core's alwaysRetry, or re-run by the cluster after a failover) finds itself.
    const writeId = write.writeId ?? randomUUID();
    const fresh = applyWrite(null, write) as TaskRecord;
    // The attempt that met the last 409, settled by the next read; `unsettled`: one may have landed.
    let pending: SentAttempt | null = null;
    let unsettled = false;
    /** Sends `record` guarded on `base` (`_create` when null); whether it landed. */
    const send = async (record: TaskRecord, base: TaskVersion | null): Promise<boolean> => {
      // Core measured the write; metadata merged from the stored record can make it larger.
      assertRecordFits(BACKEND_NAME, record, write.resultJson, this.config.maxRecordBytes);
      const writers = writersAfter(base, writeId);
      const body = encodeTask(record, write.resultJson, this.config.saveMetaAsText, writers);
      const { version, resent } = await api.write(id, body, base, operation);
      if (version && version.seqNo >= 0) this.versions.set(id, { ...version, ...writers }, record);
      pending = version ? null : { base, resent };
      return version !== null;
    };
    const known = this.versions.get(id);
    // A refusal the cache suggests is confirmed by the read below, never taken from it.
    const next = known ? applyWrite(known.record, write) : fresh;
    if (next && (await send(next, known?.version ?? null))) return APPLIED; // one round trip
    return retryLostRaces(BACKEND_NAME, operation, async () => {
      const stored = await api.get(id, operation);
      // One of our attempts landed (also one a cached refusal was about to re-send: core's retry).
      if (stored && wroteBy(stored, writeId)) return APPLIED;
      if (pending && settle(pending, writeId, stored) === "unknown") unsettled = true;
      pending = null;
      if (!stored) this.versions.delete(id);
      const next = stored && applyWrite(decodeTask(stored.source, write.taskId), write);
      // A refusal is the rules' answer unless one of our attempts may have landed before it.
      if (stored && !next) return unsettled ? { applied: false, resent: true } : { applied: false };
      return (await send(next ?? fresh, stored && versionOf(stored))) ? APPLIED : LOST_RACE;
    });
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const id = this.ids.task(taskId);
    return this.seen(id, taskId, await (await this.readable()).get(id, `read of task ${taskId}`));
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const ids = taskIds.map((taskId) => this.ids.task(taskId));
    const api = await this.readable();
    const docs = await api.getMany(ids, `read of ${taskIds.length} tasks`);
    return docs.map((doc, i) => this.seen(ids[i] as string, taskIds[i] as string, doc));
  }

  /** The record of a document read, its version remembered for the next write. */
  private seen(id: string, taskId: string, doc: StoredDocument | null): TaskRecord | null {
    if (!doc) {
      this.versions.delete(id);
      return null;
    }
    const record = decodeTask(doc.source, taskId);
    this.versions.set(id, versionOf(doc), record);
    return record;
  }

  async remove(taskId: string): Promise<void> {
    this.versions.delete(this.ids.task(taskId));
    await (await this.readable()).delete(this.ids.task(taskId), `removal of task ${taskId}`);
  }

  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.counters.incr(key, by, expiresAt);
  }

  addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.sets.add(key, member, expiresAt);
  }

  async removeCounter(key: string): Promise<void> {
    await (await this.readable()).delete(this.ids.counter(key), `removal of counter ${key}`);
  }

  /** Celery saves a group whole, overwriting any earlier save: an unguarded index does the same. */
  async saveGroup(group: GroupRecord): Promise<void> {
    const api = await this.writable();
    const body = encodeGroup(group, this.config.saveMetaAsText);
    await api.overwrite(this.ids.group(group.groupId), body, `save of group ${group.groupId}`);
  }

  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const api = await this.readable();
    const stored = await api.get(this.ids.group(groupId), `read of group ${groupId}`);
    return stored && decodeGroup(stored.source, groupId);
  }

  async removeGroup(groupId: string): Promise<void> {
    await (await this.readable()).delete(this.ids.group(groupId), `removal of group ${groupId}`);
  }

  /** A search sorted by (`@timestamp`, `task_id`), paged with `search_after` (find.ts). */
  find(query: FindQuery): Promise<TaskRecord[]> {
    return this.finder.find(query);
  }

  /** A terms aggregation on `status` (find.ts). */
  countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    return this.finder.countByState(query);
  }

  /** Expired documents, deleted page by page (see `deleteExpired`). */
  async cleanup(now: Date): Promise<number> {
    return (await this.readable()).deleteExpired(now);
  }

  async close(): Promise<void> {
    await this.connection.close((api) => this.config.ownsClient && api?.close());
  }

  /** Drops this backend's index (the whole namespace). */
  async destroy(): Promise<void> {
    await (await this.connection.get()).dropIndex();
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  private async readable(): Promise<IndexApi> {
    return (await this.connection.get()).readable();
  }

  private async writable(): Promise<IndexApi> {
    return (await this.connection.get()).writable();
  }
}

/** `createStore("elasticsearch://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & ElasticsearchBackendOptions = {},
): ElasticsearchBackend {
  return new ElasticsearchBackend(mergeUrlOptions({ url }, options));
}
