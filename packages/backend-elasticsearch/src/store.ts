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
  type BackendCapabilities,
  type GroupRecord,
  type ResultBackend,
  StoreClosedError,
  type TaskRecord,
  type TaskWrite,
  ValueTooLargeError,
  type WriteOutcome,
} from "@resultstore/core";
import {
  adaptClient,
  buildClient,
  ContentionError,
  type Engine,
  isRetryable,
  wrapError,
} from "./client.js";
import { BACKEND_NAME, type ResolvedConfig, resolveConfig } from "./config.js";
import { CounterBatcher } from "./counters.js";
import {
  counterBody,
  counterValue,
  DocumentIds,
  groupBody,
  groupRecordFrom,
  INDEX_MAPPINGS,
  taskBody,
  taskRecordFrom,
} from "./documents.js";
import { IndexApi } from "./index-api.js";
import type { ElasticsearchBackendOptions } from "./types.js";

/** CAS rounds per write or increment. Each lost round means another writer won one. */
const CAS_ATTEMPTS = 64;
/** Largest backoff between CAS rounds, in ms (full jitter below it). */
const CAS_BACKOFF_MAX_MS = 50;

const APPLIED: WriteOutcome = { applied: true };
const REFUSED: WriteOutcome = { applied: false };

/** The Elasticsearch / OpenSearch backend: Celery's document layout, optimistic concurrency for the state rules. */
export class ElasticsearchBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  /** The index this backend reads and writes. */
  readonly index: string;
  private readonly config: ResolvedConfig;
  private readonly ids: DocumentIds;
  private readonly options: ElasticsearchBackendOptions;
  private api: Promise<IndexApi> | undefined;
  private indexReady: Promise<void> | undefined;
  private readonly counters = new CounterBatcher((key, by, expiresAt) =>
    this.addToCounter(key, by, expiresAt),
  );
  private closed = false;

  constructor(options: ElasticsearchBackendOptions = {}) {
    this.config = resolveConfig(options);
    this.options = options;
    this.index = this.config.index;
    this.ids = new DocumentIds(this.config.keyPrefix);
    // No native TTL in Elasticsearch: expired records are hidden on read and removed by cleanup().
    this.capabilities = { nativeExpiry: false, maxRecordBytes: this.config.maxRecordBytes };
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const api = await this.writable();
    const id = this.ids.task(write.taskId);
    // Tags this write's documents, so a request the client retried after a lost response is
    // recognised as our own when it then meets a 409.
    const writeId = randomUUID();
    const body = (record: TaskRecord) =>
      this.checkSize(taskBody(record, write.resultJson, this.config.saveMetaAsText, writeId));
    const fresh = applyWrite(null, write) as TaskRecord;
    // The common first write: one round trip, no read.
    if (await api.create(id, body(fresh))) return APPLIED;
    for (let attempt = 1; ; attempt++) {
      const stored = await api.get(id);
      if (stored?.source.write_id === writeId) return APPLIED;
      if (!stored) {
        if (await api.create(id, body(fresh))) return APPLIED;
      } else {
        const next = applyWrite(taskRecordFrom(stored.source, write.taskId), write);
        if (!next) return REFUSED;
        if (await api.replace(id, body(next), stored)) return APPLIED;
      }
      await backoff(attempt, `The write of task ${write.taskId}`);
    }
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const stored = await (await this.readable()).get(this.ids.task(taskId));
    return stored && taskRecordFrom(stored.source, taskId);
  }

  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const docs = await (await this.readable()).getMany(taskIds.map((id) => this.ids.task(id)));
    return docs.map((doc, i) => doc && taskRecordFrom(doc.source, taskIds[i] as string));
  }

  async remove(taskId: string): Promise<void> {
    await (await this.readable()).delete(this.ids.task(taskId));
  }

  /** Same-key increments in this process share one CAS round (see CounterBatcher). */
  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.counters.incr(key, by, expiresAt);
  }

  /**
   * A compare-and-swap loop on the counter document: read it (realtime), write count + by guarded
   * by its version, retry on conflict. Requests go out with client retries off: a retried
   * increment whose first attempt landed would count twice.
   */
  private async addToCounter(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const api = await this.writable();
    const id = this.ids.counter(key);
    for (let attempt = 1; ; attempt++) {
      const stored = await api.get(id, { maxRetries: 0 });
      const value = (stored ? counterValue(stored.source, key, new Date()) : 0) + by;
      const body = counterBody(value, expiresAt);
      const landed = stored
        ? await api.replace(id, body, stored, { maxRetries: 0 })
        : await api.create(id, body, { maxRetries: 0 });
      if (landed) return value;
      await backoff(attempt, `Incrementing counter ${key}`);
    }
  }

  async removeCounter(key: string): Promise<void> {
    await (await this.readable()).delete(this.ids.counter(key));
  }

  /** Celery saves a group whole, overwriting any earlier save: an unguarded index does the same. */
  async saveGroup(group: GroupRecord): Promise<void> {
    const api = await this.writable();
    await api.put(this.ids.group(group.groupId), groupBody(group, this.config.saveMetaAsText));
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const stored = await (await this.readable()).get(this.ids.group(groupId));
    return stored && groupRecordFrom(stored.source, groupId);
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
    let removed = 0;
    for (;;) {
      if (!(await api.refresh())) return removed; // no index: nothing to clean
      const { hits, pageFull } = await api.findExpired(now);
      const deleted = hits.length > 0 ? await api.deleteGuarded(hits) : 0;
      removed += deleted;
      // Stop at the last page, or when a page deleted nothing (all rewritten meanwhile).
      if (!pageFull || deleted === 0) return removed;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = this.api;
    this.api = undefined;
    if (!pending || (this.options.client && !this.options.closeClient)) return;
    const api = await pending.catch(() => undefined);
    await api?.close();
  }

  /** Drops this backend's index (the whole namespace). */
  async destroy(): Promise<void> {
    const api = await this.connected();
    this.indexReady = undefined;
    await api.dropIndex();
  }

  isRetryable(error: unknown): boolean {
    return isRetryable(error);
  }

  /** Connects once (the driver is imported on first use) and memoises the API. */
  private connected(): Promise<IndexApi> {
    if (this.closed) return Promise.reject(new StoreClosedError(BACKEND_NAME));
    this.api ??= this.connect();
    return this.api;
  }

  private async connect(): Promise<IndexApi> {
    let engine: Engine;
    try {
      const { client } = this.options;
      const { connection } = this.config;
      engine = client
        ? adaptClient(client)
        : adaptClient(await buildClient(connection), {
            ...(connection.retryOnTimeout && { retryOnTimeout: true }),
          });
    } catch (error) {
      this.api = undefined; // a failed connect can be tried again
      throw wrapError(error, "Creating the client");
    }
    return new IndexApi(engine, this.index);
  }

  /**
   * The API for reads. While our own index creation is in flight, its shard is still recovering
   * and a GET would answer 503, so reads wait for it (they never start one, as Celery's don't).
   */
  private async readable(): Promise<IndexApi> {
    const api = await this.connected();
    await this.indexReady?.catch(() => undefined);
    return api;
  }

  /** The API, after creating the index with our mapping once (reads never create it, as Celery). */
  private async writable(): Promise<IndexApi> {
    const api = await this.connected();
    this.indexReady ??= api.ensureIndex(INDEX_MAPPINGS).catch((error) => {
      this.indexReady = undefined;
      throw error;
    });
    await this.indexReady;
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

/** Full-jitter pause between CAS rounds; gives up (retryable) after CAS_ATTEMPTS rounds. */
async function backoff(attempt: number, what: string): Promise<void> {
  if (attempt >= CAS_ATTEMPTS) throw new ContentionError(what, attempt);
  const ceiling = Math.min(CAS_BACKOFF_MAX_MS, 2 ** attempt);
  await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * ceiling)));
}
