/**
 * The Elasticsearch / OpenSearch backend. Every write is guarded by the document's version on the
 * server: a first write is `_create` (fails with 409 if the document exists); any later write is
 * an index with `if_seq_no`/`if_primary_term` of the version we read, so it lands only if nobody
 * wrote in between. On 409 we re-read (realtime GET, never a search), re-apply core's rules and
 * retry. The state check and the merge are core's pure `applyWrite`; the version guard makes
 * "read, decide, write" one atomic step on the server.
 */
import { randomUUID } from "node:crypto";
import {
  applyWrite,
  assertRecordFits,
  type BackendCapabilities,
  type BackendTelemetry,
  type BackendUrlOptions,
  endpointOf,
  type GroupRecord,
  IncrementBatcher,
  IncrementOutcomeUnknownError,
  Lazy,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  type ResultBackend,
  retryLostRaces,
  type TaskRecord,
  type TaskWrite,
  ValueTooLargeError,
  VersionCache,
  type WriteOutcome,
} from "@resultstore/core";
import { adaptClient, buildClient } from "./client.js";
import { BACKEND_NAME, type ResolvedConfig, resolveConfig } from "./config.js";
import { errors } from "./errors.js";
import { IndexApi } from "./index-api.js";
import {
  DocumentIds,
  type DocumentVersion,
  decodeCounter,
  decodeGroup,
  decodeTask,
  encodeCounter,
  encodeGroup,
  encodeTask,
  INDEX_MAPPINGS,
  RECENT_WRITE_IDS,
  recentWriteIds,
  type StoredDocument,
  withinRecentWrites,
  withWriteId,
} from "./records.js";
import type { ElasticsearchBackendOptions } from "./types.js";

/** Task versions remembered per process. */
const VERSION_CACHE_SIZE = 1000;

const APPLIED: WriteOutcome = { applied: true };

/** A task version remembered with the write ids its document recorded. */
interface TaskVersion extends DocumentVersion {
  writeIds: readonly string[];
}

/**
 * The rules refused a write whose id the document (now at `_version` `now`) does not record;
 * its first attempt was based on `_version` `before`. Within RECENT_WRITE_IDS writes since, its
 * id would still be recorded, so none of its attempts landed; beyond them, one may have landed
 * and been superseded, and core answers WriteOutcomeUnknownError, not a refusal that may be false.
 */
function refusal(before: number, now: number): WriteOutcome {
  return withinRecentWrites(before, now) ? { applied: false } : { applied: false, resent: true };
}

/** An increment that met a 409 and whose id is no longer among the recent writes: it may have counted. */
function uncertainIncrement(id: string): IncrementOutcomeUnknownError {
  return new IncrementOutcomeUnknownError(
    BACKEND_NAME,
    id,
    `an attempt met a conflict after more than ${RECENT_WRITE_IDS} other increments`,
  );
}

/** The Elasticsearch / OpenSearch backend: Celery's document layout, optimistic concurrency for the state rules. */
export class ElasticsearchBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  /** The index this backend reads and writes. */
  readonly index: string;
  readonly telemetry: BackendTelemetry;
  private readonly config: ResolvedConfig;
  private readonly ids: DocumentIds;
  private readonly options: ElasticsearchBackendOptions;
  /** Connects once (the driver is imported on first use). */
  private readonly connection = new LazyConnection(BACKEND_NAME, () =>
    errors.guard("Creating the client", () => this.connect()),
  );
  /** Our index, created with our mapping by the first write (reads never create it, as Celery). */
  private readonly indexReady = new Lazy(async () =>
    (await this.connection.get()).ensureIndex(INDEX_MAPPINGS),
  );
  /** Same-key increments in this process share one CAS round. */
  private readonly counters = new IncrementBatcher((key, by, expiresAt) =>
    this.addToCounter(key, by, expiresAt),
  );
  /** The version of each task this process last wrote or read (see core's VersionCache). */
  private readonly versions = new VersionCache<TaskVersion>(VERSION_CACHE_SIZE);

  constructor(options: ElasticsearchBackendOptions = {}) {
    this.config = resolveConfig(options);
    this.options = options;
    this.index = this.config.index;
    const { driver, nodes } = this.config.connection;
    this.telemetry = {
      system: driver, // "elasticsearch" or "opensearch", both registered values
      collection: this.index,
      ...endpointOf(options.client ? undefined : nodes[0]),
    };
    this.ids = new DocumentIds(this.config.keyPrefix);
    // No native TTL in Elasticsearch: expired records are hidden on read and removed by cleanup().
    this.capabilities = { nativeExpiry: false, maxRecordBytes: this.config.maxRecordBytes };
  }

  /**
   * Replace under the version this process last saw (its own write or read), one request; else
   * `_create`, one request for a new task. A 409 means someone else wrote (or the cache was
   * stale): read the current version (realtime GET), re-apply the rules and merge, and retry.
   */
  async write(write: TaskWrite): Promise<WriteOutcome> {
    const api = await this.writable();
    const id = this.ids.task(write.taskId);
    // Tags this write's documents, so a request that landed and then met a 409 (re-sent by the
    // client or by core's alwaysRetry, or re-run by the cluster after a failover) finds itself.
    const writeId = write.writeId ?? randomUUID();
    const body = (record: TaskRecord, writeIds: readonly string[]) => {
      // Core measured the write; metadata merged from the stored record can make it larger.
      assertRecordFits(BACKEND_NAME, record, write.resultJson, this.config.maxRecordBytes);
      return this.checkSize(
        encodeTask(record, write.resultJson, this.config.saveMetaAsText, writeIds),
      );
    };
    const remember = (version: DocumentVersion | null, record: TaskRecord, writeIds: string[]) => {
      if (version && version.seqNo >= 0) this.versions.set(id, { ...version, writeIds }, record);
      return version !== null;
    };
    const fresh = applyWrite(null, write) as TaskRecord;
    const known = this.versions.get(id);
    // The document's _version before this call's first attempt (0: it did not exist).
    const before = known ? known.version.version : 0;
    if (known) {
      // A refusal the cache suggests is confirmed by the read below, never taken from it.
      const next = applyWrite(known.record, write);
      const ids = withWriteId(known.version.writeIds, writeId);
      if (next && remember(await api.replace(id, body(next, ids), known.version), next, ids)) {
        return APPLIED;
      }
    } else if (remember(await api.create(id, body(fresh, [writeId])), fresh, [writeId])) {
      return APPLIED; // the common first write: one round trip, no read
    }
    return retryLostRaces(BACKEND_NAME, `write of task ${write.taskId}`, async () => {
      const stored = await api.get(id);
      const recorded = stored ? recentWriteIds(stored.source) : [];
      if (recorded.includes(writeId)) return APPLIED;
      if (!stored) this.versions.delete(id);
      const next = stored && applyWrite(decodeTask(stored.source, write.taskId), write);
      if (stored && !next) return refusal(before, stored.version);
      const ids = withWriteId(recorded, writeId);
      const landed = stored
        ? remember(
            await api.replace(id, body(next as TaskRecord, ids), stored),
            next as TaskRecord,
            ids,
          )
        : remember(await api.create(id, body(fresh, ids)), fresh, ids);
      return landed ? APPLIED : LOST_RACE;
    });
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const id = this.ids.task(taskId);
    return this.seen(id, taskId, await (await this.readable()).get(id));
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const ids = taskIds.map((taskId) => this.ids.task(taskId));
    const docs = await (await this.readable()).getMany(ids);
    return docs.map((doc, i) => this.seen(ids[i] as string, taskIds[i] as string, doc));
  }

  /** The record of a document read, its version remembered for the next write. */
  private seen(id: string, taskId: string, doc: StoredDocument | null): TaskRecord | null {
    if (!doc) {
      this.versions.delete(id);
      return null;
    }
    const record = decodeTask(doc.source, taskId);
    const { seqNo, primaryTerm, version, source } = doc;
    this.versions.set(
      id,
      { seqNo, primaryTerm, version, writeIds: recentWriteIds(source) },
      record,
    );
    return record;
  }

  async remove(taskId: string): Promise<void> {
    this.versions.delete(this.ids.task(taskId));
    await (await this.readable()).delete(this.ids.task(taskId));
  }

  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.counters.incr(key, by, expiresAt);
  }

  /**
   * A compare-and-swap loop on the counter document: read it (realtime), write count + by guarded
   * by its version, retry on conflict. Requests go out with client retries off: a retried
   * increment whose first attempt landed would count twice. The cluster can still re-run one
   * after a failover and answer 409 to an increment that landed, so each carries an id, as task
   * writes do, and a 409 is taken for a lost race only once the re-read shows it did not land.
   */
  private async addToCounter(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const api = await this.writable();
    const id = this.ids.counter(key);
    const incrementId = randomUUID();
    let before = -1; // the counter's _version under the first attempt (0: it did not exist)
    let sent: number | null = null; // the value the attempt that met a 409 would have set
    return retryLostRaces(BACKEND_NAME, `incr of ${key}`, async () => {
      const stored = await api.get(id, { maxRetries: 0 });
      const recorded = stored ? recentWriteIds(stored.source) : [];
      if (sent !== null) {
        if (recorded.includes(incrementId)) return sent;
        if (!withinRecentWrites(before, stored?.version ?? 0)) throw uncertainIncrement(id);
      } else {
        before = stored?.version ?? 0;
      }
      sent = (stored ? decodeCounter(stored.source, key, new Date()) : 0) + by;
      const body = encodeCounter(sent, expiresAt, withWriteId(recorded, incrementId));
      const landed = stored
        ? await api.replace(id, body, stored, { maxRetries: 0 })
        : await api.create(id, body, { maxRetries: 0 });
      return landed ? sent : LOST_RACE;
    });
  }

  async removeCounter(key: string): Promise<void> {
    await (await this.readable()).delete(this.ids.counter(key));
  }

  /** Celery saves a group whole, overwriting any earlier save: an unguarded index does the same. */
  async saveGroup(group: GroupRecord): Promise<void> {
    const api = await this.writable();
    await api.put(this.ids.group(group.groupId), encodeGroup(group, this.config.saveMetaAsText));
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const stored = await (await this.readable()).get(this.ids.group(groupId));
    return stored && decodeGroup(stored.source, groupId);
  }

  /** Deletes a saved group. */
  async removeGroup(groupId: string): Promise<void> {
    await (await this.readable()).delete(this.ids.group(groupId));
  }

  /**
   * Refresh, find documents whose `expires_at` has passed, delete them in bulk, each delete guarded
   * by the version the search saw (a record rewritten since then is left alone), page by page.
   */
  async cleanup(now: Date): Promise<number> {
    const api = await this.readable();
    const pageSize = this.config.cleanupBatchSize;
    // Ids whose guarded delete failed (rewritten or deleted since the search): left alone for
    // this run and excluded from later searches, so a page of conflicts never ends the run
    // early, and every page either deletes or excludes all it found: the run always ends.
    const skipped: string[] = [];
    let removed = 0;
    for (;;) {
      if (!(await api.refresh())) return removed; // no index: nothing to clean
      const hits = await api.findExpired(now, pageSize, skipped);
      if (hits.length === 0) return removed;
      const { deleted, failed } = await api.deleteGuarded(hits);
      removed += deleted;
      skipped.push(...failed);
      if (hits.length < pageSize) return removed;
    }
  }

  async close(): Promise<void> {
    const owned = !this.options.client || this.options.closeClient;
    await this.connection.close((api) => owned && api?.close());
  }

  /** Drops this backend's index (the whole namespace). */
  async destroy(): Promise<void> {
    const api = await this.connection.get();
    this.indexReady.reset();
    await api.dropIndex();
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  private async connect(): Promise<IndexApi> {
    const { client } = this.options;
    const { connection } = this.config;
    const engine = client
      ? adaptClient(client)
      : adaptClient(await buildClient(connection), {
          ...(connection.retryOnTimeout && { retryOnTimeout: true }),
        });
    return new IndexApi(engine, this.index, {
      writeParams: this.config.writeParams,
      readParams: this.config.readParams,
      indexSettings: this.config.indexSettings,
    });
  }

  /**
   * The API for reads. While our own index creation is in flight, its shard is still recovering
   * and a GET would answer 503, so reads wait for it (they never start one, as Celery's don't).
   */
  private async readable(): Promise<IndexApi> {
    const api = await this.connection.get();
    await this.indexReady.settled();
    return api;
  }

  /** The API, after creating the index with our mapping once (reads never create it, as Celery). */
  private async writable(): Promise<IndexApi> {
    const api = await this.connection.get();
    await this.indexReady.get();
    return api;
  }

  /** A typed error before the server answers 413 (its `http.max_content_length`, 100 MB). */
  private checkSize(body: string): string {
    const size = Buffer.byteLength(body);
    if (size > HTTP_BODY_LIMIT) throw new ValueTooLargeError(BACKEND_NAME, size, HTTP_BODY_LIMIT);
    return body;
  }
}

/** Elasticsearch's default `http.max_content_length` (100 MB), minus room for the request line. */
const HTTP_BODY_LIMIT = 100 * 1024 * 1024 - 64 * 1024;

/** `createStore("elasticsearch://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & ElasticsearchBackendOptions = {},
): ElasticsearchBackend {
  return new ElasticsearchBackend(mergeUrlOptions({ url }, options));
}
