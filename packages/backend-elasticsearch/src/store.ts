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
  type BackendCapabilities,
  type BackendTelemetry,
  type BackendUrlOptions,
  type GroupRecord,
  IncrementOutcomeUnknownError,
  type ResultBackend,
  type TaskRecord,
  type TaskWrite,
  ValueTooLargeError,
  type WriteOutcome,
} from "@resultstore/core";
import {
  applyWrite,
  assertRecordFits,
  endpointOf,
  IncrementBatcher,
  Lazy,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  retryLostRaces,
  SetAddBatcher,
  VersionCache,
} from "@resultstore/core/backend";
import { type SentAttempt, settle } from "./attempts.js";
import { adaptClient, buildClient } from "./client.js";
import { BACKEND_NAME, type ResolvedConfig, resolveConfig } from "./config.js";
import { errors } from "./errors.js";
import { IndexApi, type WriteAnswer } from "./index-api.js";
import {
  creatorOf,
  DocumentIds,
  type DocumentVersion,
  decodeCounter,
  decodeGroup,
  decodeSet,
  decodeTask,
  encodeCounter,
  encodeGroup,
  encodeSet,
  encodeTask,
  INDEX_MAPPINGS,
  recentWriteIds,
  type StoredDocument,
  type Writers,
  writersAfter,
  wroteBy,
} from "./records.js";
import type { ElasticsearchBackendOptions } from "./types.js";

/** Task versions remembered per process. */
const VERSION_CACHE_SIZE = 1000;

const APPLIED: WriteOutcome = { applied: true };

/** A task version remembered with the writers its document recorded. */
interface TaskVersion extends DocumentVersion, Writers {}

/** An increment that met a 409 and may have counted (see attempts.ts). */
function uncertainIncrement(id: string, cause?: unknown): IncrementOutcomeUnknownError {
  return new IncrementOutcomeUnknownError(
    BACKEND_NAME,
    id,
    "an attempt met a conflict that a copy of it run twice (re-sent, or re-run on a new primary) can explain",
    cause === undefined ? undefined : { cause },
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
  /** Same-key set adds in this process share one CAS round. */
  private readonly sets = new SetAddBatcher((key, members, expiresAt) =>
    this.addMembers(key, members, expiresAt),
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
   * stale): read the current version (realtime GET), settle whether the attempt landed after all
   * (attempts.ts), re-apply the rules and merge, and retry.
   */
  async write(write: TaskWrite): Promise<WriteOutcome> {
    const api = await this.writable();
    const id = this.ids.task(write.taskId);
    // Tags this write's documents, so a request that landed and then met a 409 (re-sent by the
    // client or by core's alwaysRetry, or re-run by the cluster after a failover) finds itself.
    const writeId = write.writeId ?? randomUUID();
    const fresh = applyWrite(null, write) as TaskRecord;
    /** Sends `record` guarded on `base` (`_create` when null); remembers what landed. */
    const send = async (
      record: TaskRecord,
      base: DocumentVersion | null,
      writers: Writers,
    ): Promise<WriteAnswer> => {
      // Core measured the write; metadata merged from the stored record can make it larger.
      assertRecordFits(BACKEND_NAME, record, write.resultJson, this.config.maxRecordBytes);
      const body = this.checkSize(
        encodeTask(record, write.resultJson, this.config.saveMetaAsText, writers),
      );
      const answer = base ? await api.replace(id, body, base) : await api.create(id, body);
      const { version } = answer;
      if (version && version.seqNo >= 0) this.versions.set(id, { ...version, ...writers }, record);
      return answer;
    };
    // The attempt that met the last 409, settled by the next read; `unsettled`: one may have landed.
    let pending: SentAttempt | null = null;
    let unsettled = false;
    const known = this.versions.get(id);
    if (known) {
      // A refusal the cache suggests is confirmed by the read below, never taken from it.
      const next = applyWrite(known.record, write);
      if (next) {
        const base = known.version;
        const writers = writersAfter(
          { write_id: base.writeIds, created_by: base.createdBy },
          writeId,
        );
        const answer = await send(next, base, writers);
        if (answer.version) return APPLIED;
        pending = { base, resent: answer.resent };
      }
    } else {
      const answer = await send(fresh, null, writersAfter(null, writeId));
      if (answer.version) return APPLIED; // the common first write: one round trip, no read
      pending = { base: null, resent: answer.resent };
    }
    return retryLostRaces(BACKEND_NAME, `write of task ${write.taskId}`, async () => {
      const stored = await api.get(id);
      // One of our attempts landed (also one a cached refusal was about to re-send: core's retry).
      if (stored && wroteBy(stored.source, writeId)) return APPLIED;
      if (pending && settle(pending, writeId, stored) === "unknown") unsettled = true;
      pending = null;
      if (!stored) this.versions.delete(id);
      const next = stored && applyWrite(decodeTask(stored.source, write.taskId), write);
      // A refusal is the rules' answer unless one of our attempts may have landed before it.
      if (stored && !next) return unsettled ? { applied: false, resent: true } : { applied: false };
      const answer = await send(
        next ?? fresh,
        stored,
        writersAfter(stored?.source ?? null, writeId),
      );
      if (answer.version) return APPLIED;
      pending = { base: stored, resent: answer.resent };
      return LOST_RACE;
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
      {
        seqNo,
        primaryTerm,
        version,
        writeIds: recentWriteIds(source),
        createdBy: creatorOf(source),
      },
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
   * writes do, and the read after a 409 settles whether it landed (attempts.ts) before another
   * round adds again; one that may have counted fails with IncrementOutcomeUnknownError.
   */
  private async addToCounter(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const api = await this.writable();
    const id = this.ids.counter(key);
    const incrementId = randomUUID();
    let pending: SentAttempt | null = null; // the attempt that met the last 409
    let sent = 0; // the value that attempt would have set
    return retryLostRaces(BACKEND_NAME, `incr of ${key}`, async () => {
      const stored = await api.get(id, { maxRetries: 0 }).catch((error: unknown) => {
        // The last attempt's 409 is not settled: it may have counted.
        throw pending ? uncertainIncrement(id, error) : error;
      });
      if (pending) {
        const settled = settle(pending, incrementId, stored);
        if (settled === "landed") return sent;
        if (settled === "unknown") throw uncertainIncrement(id);
        pending = null;
      }
      sent = (stored ? decodeCounter(stored.source, key, new Date()) : 0) + by;
      const body = encodeCounter(
        sent,
        expiresAt,
        writersAfter(stored?.source ?? null, incrementId),
      );
      const answer = stored
        ? await api.replace(id, body, stored, { maxRetries: 0 })
        : await api.create(id, body, { maxRetries: 0 });
      if (answer.version) return sent;
      pending = { base: stored, resent: answer.resent };
      return LOST_RACE;
    });
  }

  addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.sets.add(key, member, expiresAt);
  }

  /**
   * Adds `members` to the set document with a compare-and-swap loop (read, union, guarded write).
   * Adding is idempotent, so a request re-sent or re-run after it landed does no harm: the next
   * round finds the members there. An expired set restarts empty. The size is read from the
   * document the add wrote, so it is never older than the add.
   */
  private async addMembers(
    key: string,
    members: string[],
    expiresAt: Date | null,
  ): Promise<number> {
    const api = await this.writable();
    const id = this.ids.set(key);
    return retryLostRaces(BACKEND_NAME, `addToSet of ${key}`, async () => {
      const stored = await api.get(id);
      const current = stored ? decodeSet(stored.source, key, new Date()) : [];
      const next = [...new Set([...current, ...members])];
      const body = this.checkSize(encodeSet(next, expiresAt));
      const answer = stored ? await api.replace(id, body, stored) : await api.create(id, body);
      return answer.version ? next.length : LOST_RACE;
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
