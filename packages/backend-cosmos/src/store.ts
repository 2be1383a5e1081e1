/**
 * `CosmosBackend`: task records in Celery's cosmosdbsql layout, written under ETag (`If-Match`)
 * conditions so core's state rules hold on the server without a read-then-write window.
 */
import type { Container, CosmosClient, ItemDefinition } from "@azure/cosmos";
import {
  applyWrite,
  type BackendCapabilities,
  BackendError,
  GROUP_KEY_PREFIX,
  type GroupRecord,
  type ResultBackend,
  TASK_KEY_PREFIX,
  type TaskRecord,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import { type ResolvedOptions, resolveOptions } from "./config.js";
import { buildClient, type OwnedClient, openContainer } from "./connection.js";
import {
  expiryFields,
  fromGroupDocument,
  fromTaskDocument,
  MAX_RECORD_BYTES,
  type StoredDocument,
  toGroupDocument,
  toTaskDocument,
} from "./documents.js";
import {
  BACKEND_NAME,
  CONFLICT,
  isRetryableError,
  NOT_FOUND,
  PRECONDITION_FAILED,
  statusOf,
  wrapError,
} from "./errors.js";
import { EtagCache, type KnownVersion } from "./etag-cache.js";
import type { CosmosBackendOptions } from "./types.js";

/** Conditional writes lost to concurrent writers before giving up; each loss means another write applied. */
const MAX_ATTEMPTS = 32;
/** Parallel deletes in `cleanup`. */
const CLEANUP_CONCURRENCY = 16;
const APPLIED: WriteOutcome = { applied: true };
const REFUSED: WriteOutcome = { applied: false };

/** The Azure Cosmos DB (SQL API) backend: Celery's document layout, ETag-conditional writes for the state rules, native TTL. */
export class CosmosBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  /** Cosmos deletes items by their `ttl`; reads and `cleanup` also honour `expires_at` (engines without TTL). */
  readonly capabilities: BackendCapabilities = {
    nativeExpiry: true,
    maxRecordBytes: MAX_RECORD_BYTES,
  };
  private readonly options: CosmosBackendOptions;
  private readonly resolved: ResolvedOptions;
  private readonly etags: EtagCache;
  private owned: OwnedClient | undefined;
  private containerPromise: Promise<Container> | undefined;
  private closed = false;

  constructor(options: CosmosBackendOptions) {
    this.resolved = resolveOptions(options);
    this.options = options;
    this.etags = new EtagCache(this.resolved.etagCacheSize);
  }

  /** The database this backend's container lives in. */
  get databaseName(): string {
    return this.resolved.databaseName;
  }

  /** The container this store's records live in (`<containerName>_<namespace>` with a namespace). */
  get containerName(): string {
    return this.resolved.containerName;
  }

  /**
   * Create first when this process knows nothing about the task (its first write is then one
   * request); otherwise replace under the known ETag. A 409 or 412 means someone else wrote: read
   * the current version, re-apply the rules and merge to it, and try again.
   */
  async write(write: TaskWrite): Promise<WriteOutcome> {
    const container = await this.container();
    const id = TASK_KEY_PREFIX + write.taskId;
    let known: KnownVersion | null | undefined = this.etags.get(id);
    let fresh = false; // whether `known` was read during this call (then a refusal is final)
    if (!known && (await this.tryCreate(container, id, write))) return APPLIED;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!known) {
        known = await this.readVersion(container, id, write.taskId);
        fresh = true;
      }
      if (known === null) {
        if (await this.tryCreate(container, id, write)) return APPLIED;
        known = undefined;
        continue;
      }
      const next = applyWrite(known.record, write);
      if (!next) {
        if (fresh) return REFUSED;
        known = undefined; // the cache said no: confirm against the stored record
        continue;
      }
      if (await this.tryReplace(container, id, known.etag, next, write.resultJson)) return APPLIED;
      known = undefined;
    }
    throw new BackendError(
      BACKEND_NAME,
      `Writing task ${write.taskId} lost ${MAX_ATTEMPTS} races to concurrent writers.`,
    );
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const container = await this.container();
    return (await this.readVersion(container, TASK_KEY_PREFIX + taskId, taskId))?.record ?? null;
  }

  async remove(taskId: string): Promise<void> {
    this.etags.delete(TASK_KEY_PREFIX + taskId);
    await this.deleteItem(TASK_KEY_PREFIX + taskId);
  }

  /**
   * One conditional patch in the common case: `incr` is atomic on the server, and the condition
   * makes an expired counter fail (412) so it restarts from zero instead of counting on.
   */
  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const container = await this.container();
    const item = container.item(key, key);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = Date.now();
      const expiry = expiryFields(expiresAt, now);
      const fresh = { id: key, count: by, ...expiry };
      // Whole seconds, rounded down: the condition text then repeats for a second, so engines that
      // cache compiled conditions by text (the local server compiles each new one) reuse it. Down
      // is the safe side: a counter may count on < 1 s past expiry (Cosmos's own TTL granularity),
      // never restart early.
      const cutoff = Math.floor(now / 1000) * 1000;
      try {
        const { resource } = await item.patch<StoredDocument>({
          // Lower-case-proof and numeric only: the local test server lower-cases this text.
          condition: `FROM c WHERE NOT IS_DEFINED(c.expires_at) OR IS_NULL(c.expires_at) OR c.expires_at > ${cutoff}`,
          operations: [
            { op: "incr", path: "/count", value: by },
            { op: "set", path: "/expires_at", value: expiry.expires_at },
            { op: "set", path: "/ttl", value: expiry.ttl },
          ],
        });
        return Number(resource?.count);
      } catch (error) {
        const status = statusOf(error);
        if (status === NOT_FOUND) {
          if (await this.tryInsert(container, fresh)) return by;
        } else if (status === PRECONDITION_FAILED) {
          // Expired: restart it, but only the version we saw expire.
          const { resource, etag } = await this.guard(`Reading counter ${key}`, () =>
            item.read<StoredDocument>(),
          );
          if (resource && etag && (await this.tryReplaceDocument(container, fresh, etag)))
            return by;
        } else {
          throw wrapError(`Incrementing counter ${key}`, error);
        }
      }
    }
    throw new BackendError(BACKEND_NAME, `Incrementing counter ${key} lost ${MAX_ATTEMPTS} races.`);
  }

  async removeCounter(key: string): Promise<void> {
    await this.deleteItem(key);
  }

  /** Celery creates the group document (409 on a second save); we upsert so a re-save works. */
  async saveGroup(group: GroupRecord): Promise<void> {
    const container = await this.container();
    await this.guard(`Saving group ${group.groupId}`, () =>
      container.items.upsert(toGroupDocument(group)),
    );
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const container = await this.container();
    const id = GROUP_KEY_PREFIX + groupId;
    const { resource } = await this.guard(`Reading group ${groupId}`, () =>
      container.item(id, id).read<StoredDocument>(),
    );
    return resource ? fromGroupDocument(resource, groupId) : null;
  }

  /** Deletes a saved group. */
  async removeGroup(groupId: string): Promise<void> {
    await this.deleteItem(GROUP_KEY_PREFIX + groupId);
  }

  /**
   * Deletes what expired by `expires_at`, for engines or containers without TTL (the local test
   * server, a container Celery created). Each delete is conditional on the ETag the query saw, so
   * a record rewritten meanwhile (with a new expiry) survives.
   */
  async cleanup(now: Date): Promise<number> {
    const container = await this.container();
    const query = {
      query: "SELECT c.id, c._etag FROM c WHERE IS_NUMBER(c.expires_at) AND c.expires_at <= @now",
      parameters: [{ name: "@now", value: now.getTime() }],
    };
    const { resources } = await this.guard("Querying expired items", () =>
      container.items.query<{ id: string; _etag: string }>(query).fetchAll(),
    );
    let removed = 0;
    for (let i = 0; i < resources.length; i += CLEANUP_CONCURRENCY) {
      const batch = resources.slice(i, i + CLEANUP_CONCURRENCY);
      const deleted = await Promise.all(batch.map((doc) => this.deleteItem(doc.id, doc._etag)));
      removed += deleted.filter(Boolean).length;
    }
    return removed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.etags.clear();
    this.owned?.release();
  }

  /** Deletes this store's container (its namespace): every task, group and counter in it. */
  async destroy(): Promise<void> {
    if (this.closed) throw new BackendError(BACKEND_NAME, "The backend is closed.");
    this.etags.clear();
    this.containerPromise = undefined; // a later call provisions it again
    // No provisioning here: creating the container only to delete it would be wasted requests.
    const container = this.client().database(this.databaseName).container(this.containerName);
    try {
      await container.delete();
    } catch (error) {
      if (statusOf(error) !== NOT_FOUND)
        throw wrapError(`Deleting container ${this.containerName}`, error);
    }
  }

  isRetryable(error: unknown): boolean {
    return isRetryableError(error);
  }

  /** The container, provisioned once; a failed attempt is forgotten so the next call retries. */
  private container(): Promise<Container> {
    if (this.closed)
      return Promise.reject(new BackendError(BACKEND_NAME, "The backend is closed."));
    this.containerPromise ??= openContainer(this.client(), this.resolved).catch(
      (error: unknown) => {
        this.containerPromise = undefined;
        throw error;
      },
    );
    return this.containerPromise;
  }

  private client(): CosmosClient {
    this.owned ??= buildClient(this.options, this.resolved);
    return this.owned.client;
  }

  /** The stored version of a task (remembered for the next write), or null. */
  private async readVersion(
    container: Container,
    id: string,
    taskId: string,
  ): Promise<KnownVersion | null> {
    const { resource, etag } = await this.guard(`Reading task ${taskId}`, () =>
      container.item(id, id).read<StoredDocument>(),
    );
    if (!resource) {
      this.etags.delete(id);
      return null;
    }
    const record = fromTaskDocument(resource, taskId);
    this.etags.set(id, etag, record);
    return { etag, record };
  }

  private async tryCreate(container: Container, id: string, write: TaskWrite): Promise<boolean> {
    const record = applyWrite(null, write) as TaskRecord; // nothing stored: the rules always allow
    const etag = await this.tryInsert(container, toTaskDocument(record, write.resultJson));
    if (etag) this.etags.set(id, etag, record);
    return etag !== undefined;
  }

  private async tryReplace(
    container: Container,
    id: string,
    etag: string,
    record: TaskRecord,
    resultJson: string,
  ) {
    const newEtag = await this.tryReplaceDocument(
      container,
      toTaskDocument(record, resultJson),
      etag,
    );
    if (newEtag) this.etags.set(id, newEtag, record);
    return newEtag !== undefined;
  }

  /** Creates `doc`; its new ETag, or undefined when it already exists (409). */
  private async tryInsert(
    container: Container,
    doc: ItemDefinition & { id: string },
  ): Promise<string | undefined> {
    try {
      return (await container.items.create(doc)).etag;
    } catch (error) {
      if (statusOf(error) === CONFLICT) return undefined;
      throw wrapError(`Creating ${doc.id}`, error);
    }
  }

  /** Replaces `doc` if it is still at `etag`; its new ETag, or undefined when it changed or vanished. */
  private async tryReplaceDocument(
    container: Container,
    doc: ItemDefinition & { id: string },
    etag: string,
  ) {
    try {
      const response = await container
        .item(doc.id, doc.id)
        .replace(doc, { accessCondition: { type: "IfMatch", condition: etag } });
      return response.etag;
    } catch (error) {
      const status = statusOf(error);
      if (status === PRECONDITION_FAILED || status === NOT_FOUND) return undefined;
      throw wrapError(`Replacing ${doc.id}`, error);
    }
  }

  /** Deletes an item (only at `etag` when given); whether it was there to delete. */
  private async deleteItem(id: string, etag?: string): Promise<boolean> {
    const container = await this.container();
    try {
      await container
        .item(id, id)
        .delete(etag ? { accessCondition: { type: "IfMatch", condition: etag } } : {});
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === NOT_FOUND || (etag && status === PRECONDITION_FAILED)) return false;
      throw wrapError(`Deleting ${id}`, error);
    }
  }

  private async guard<T>(action: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw wrapError(action, error);
    }
  }
}
