/**
 * `CosmosBackend`: task records in Celery's cosmosdbsql layout, written under ETag (`If-Match`)
 * conditions so core's state rules hold on the server without a read-then-write window.
 */
import type { Container, CosmosClient, ItemDefinition, PatchOperation } from "@azure/cosmos";
import {
  type BackendCapabilities,
  type BackendTelemetry,
  type BackendUrlOptions,
  type GroupRecord,
  type ResultBackend,
  StoreClosedError,
  type TaskRecord,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import {
  applyWrite,
  assertRecordFits,
  counterKey,
  endpointOf,
  GROUP_KEY_PREFIX,
  isPlainObject,
  type KnownVersion,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  retryLostRaces,
  setKey,
  TASK_KEY_PREFIX,
  VersionCache,
} from "@resultstore/core/backend";
import { buildClient, type OwnedClient, openContainer } from "./client.js";
import { BACKEND_NAME, optionsFromUrl, type ResolvedOptions, resolveOptions } from "./config.js";
import {
  CONFLICT,
  errors,
  INTERNAL_ERROR,
  NOT_FOUND,
  PRECONDITION_FAILED,
  statusOf,
  writeErrors,
} from "./errors.js";
import {
  decodeGroup,
  decodeTask,
  detachedRecord,
  encodeGroup,
  encodeTask,
  expiryFields,
  MAX_RECORD_BYTES,
  memberProperty,
  type StoredDocument,
} from "./records.js";
import type { CosmosBackendOptions, CosmosUrlOptions } from "./types.js";

/** Parallel deletes in `cleanup`. */
const CLEANUP_CONCURRENCY = 16;
/** Ids per readMany query. */
const READ_MANY_CHUNK = 100;
const APPLIED: WriteOutcome = { applied: true };
/** A task read back: its ETag, the record, and the call that wrote it (`write_id`). */
type Read = KnownVersion<string> & { writeId?: string | undefined };
const REFUSED: WriteOutcome = { applied: false };

/** A counter's or set's change, applied to the live document or as the restarted one. */
interface LiveUpdate {
  /** The patch operations that change the value (the expiry's two `set`s are added). */
  operations: PatchOperation[];
  /** The value's fields of a document created or restarted by this call. */
  fresh: Record<string, unknown>;
  /** The answer, from the document as this call left it. */
  answer(doc: StoredDocument): number;
}

/** The Azure Cosmos DB (SQL API) backend: Celery's document layout, ETag-conditional writes for the state rules, native TTL. */
export class CosmosBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  /** Cosmos deletes items by their `ttl`; reads and `cleanup` also honour `expires_at` (engines without TTL). */
  readonly capabilities: BackendCapabilities = {
    nativeExpiry: true,
    maxRecordBytes: MAX_RECORD_BYTES,
  };
  readonly telemetry: BackendTelemetry;
  private readonly options: CosmosBackendOptions;
  private readonly resolved: ResolvedOptions;
  private readonly etags: VersionCache<string>;
  private owned: OwnedClient | undefined;
  /** The container, provisioned once per store (see client.ts). */
  private readonly connection = new LazyConnection(BACKEND_NAME, () =>
    openContainer(this.client(), this.resolved),
  );

  constructor(options: CosmosBackendOptions) {
    this.resolved = resolveOptions(options);
    this.telemetry = {
      system: "azure.cosmosdb",
      namespace: this.resolved.databaseName,
      collection: this.resolved.containerName,
      ...endpointOf(options.client ? undefined : options.endpoint, 443),
    };
    this.options = options;
    this.etags = new VersionCache<string>(this.resolved.etagCacheSize);
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
    return this.recovering(async () => {
      const container = await this.connection.get();
      const id = TASK_KEY_PREFIX + write.taskId;
      let known: Read | null | undefined = this.etags.get(id);
      let fresh = false; // whether `known` was read during this call (then a refusal is final)
      if (!known && (await this.tryCreate(container, id, write))) return APPLIED;
      return retryLostRaces(BACKEND_NAME, `write of task ${write.taskId}`, async () => {
        if (!known) {
          known = await this.readVersion(container, id, write.taskId);
          fresh = true;
        }
        const next = known && applyWrite(known.record, write);
        if (known && !next && fresh) {
          // Refused, unless the stored document is this very call's: sent again after it landed.
          const own = write.writeId !== undefined && known.writeId === write.writeId;
          return own ? APPLIED : REFUSED;
        }
        // The cache said no (confirm against the stored record), or someone else wrote first.
        const landed =
          known === null
            ? await this.tryCreate(container, id, write)
            : next &&
              (await this.tryReplace(
                container,
                id,
                known.version,
                next,
                write.resultJson,
                write.writeId,
              ));
        known = undefined;
        return landed ? APPLIED : LOST_RACE;
      });
    });
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const container = await this.connection.get();
    return (await this.readVersion(container, TASK_KEY_PREFIX + taskId, taskId))?.record ?? null;
  }

  /**
   * One query per `READ_MANY_CHUNK` ids (`ARRAY_CONTAINS(@ids, c.id)`, one parameter however many
   * ids), all in flight, instead of a point read per id: two requests per chunk (the SDK asks for
   * the cross-partition query's plan first). Each document's `_etag` is remembered as
   * a point read's would be, so a following write of it is one replace.
   */
  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    return this.recovering(async () => {
      const container = await this.connection.get();
      const keys = [...new Set(taskIds.map((id) => TASK_KEY_PREFIX + id))];
      const found = new Map<string, StoredDocument>();
      const chunks: string[][] = [];
      for (let i = 0; i < keys.length; i += READ_MANY_CHUNK)
        chunks.push(keys.slice(i, i + READ_MANY_CHUNK));
      await Promise.all(
        chunks.map(async (ids) => {
          const { resources } = await errors.guard(`Reading ${ids.length} tasks`, () =>
            container.items
              .query<StoredDocument>({
                query: "SELECT * FROM c WHERE ARRAY_CONTAINS(@ids, c.id)",
                parameters: [{ name: "@ids", value: ids }],
              })
              .fetchAll(),
          );
          for (const doc of resources) found.set(doc.id, doc);
        }),
      );
      return taskIds.map((taskId) => {
        const doc = found.get(TASK_KEY_PREFIX + taskId);
        if (!doc) return null;
        const record = decodeTask(doc, taskId);
        if (typeof doc._etag === "string") this.remember(doc.id, doc._etag, record);
        return record;
      });
    });
  }

  async remove(taskId: string): Promise<void> {
    this.etags.delete(TASK_KEY_PREFIX + taskId);
    await this.deleteItem(TASK_KEY_PREFIX + taskId);
  }

  /**
   * One conditional patch in the common case: `incr` is atomic on the server, and the condition
   * makes an expired counter fail (412) so it restarts from zero instead of counting on. Counters
   * live under core's `counterKey`: Celery's layout, apart from every task and group document.
   */
  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.updateLive(counterKey(key), `counter ${key}`, expiresAt, {
      operations: [{ op: "incr", path: "/count", value: by }],
      fresh: { count: by },
      answer: (doc) => Number(doc.count),
    });
  }

  async removeCounter(key: string): Promise<void> {
    await this.deleteItem(counterKey(key));
  }

  /**
   * One conditional patch, as `incr`: `set /members/<member>` on the set's document, an object
   * whose property names are the members (see `memberProperty`), so adding a member already there
   * changes nothing, and the size is the object's size in the document the patch returns. Sets
   * live under core's `setKey`, apart from tasks, groups and counters.
   */
  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    const property = memberProperty(member);
    return this.updateLive(setKey(key), `set ${key}`, expiresAt, {
      operations: [{ op: "set", path: `/members/${property}`, value: true }],
      fresh: { members: { [property]: true } },
      answer: (doc) => (isPlainObject(doc.members) ? Object.keys(doc.members).length : 0),
    });
  }
  /** Celery creates the group document (409 on a second save); we upsert so a re-save works. */
  async saveGroup(group: GroupRecord): Promise<void> {
    return this.recovering(async () => {
      const container = await this.connection.get();
      await errors.guard(`Saving group ${group.groupId}`, () =>
        container.items.upsert(encodeGroup(group)),
      );
    });
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const container = await this.connection.get();
    const id = GROUP_KEY_PREFIX + groupId;
    const { resource } = await errors.guard(`Reading group ${groupId}`, () =>
      container.item(id, id).read<StoredDocument>(),
    );
    return resource ? decodeGroup(resource, groupId) : null;
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
    return this.recovering(async () => {
      const container = await this.connection.get();
      const query = {
        query: "SELECT c.id, c._etag FROM c WHERE IS_NUMBER(c.expires_at) AND c.expires_at <= @now",
        parameters: [{ name: "@now", value: now.getTime() }],
      };
      const { resources } = await errors.guard("Querying expired items", () =>
        container.items.query<{ id: string; _etag: string }>(query).fetchAll(),
      );
      let removed = 0;
      for (let i = 0; i < resources.length; i += CLEANUP_CONCURRENCY) {
        const batch = resources.slice(i, i + CLEANUP_CONCURRENCY);
        const deleted = await Promise.all(batch.map((doc) => this.deleteItem(doc.id, doc._etag)));
        removed += deleted.filter(Boolean).length;
      }
      return removed;
    });
  }

  async close(): Promise<void> {
    await this.connection.close(() => {
      this.etags.clear();
      this.owned?.release();
    });
  }

  /** Deletes this store's container (its namespace): every task, group and counter in it. */
  async destroy(): Promise<void> {
    if (this.connection.isClosed) throw new StoreClosedError(BACKEND_NAME);
    this.etags.clear();
    this.connection.reset(); // a later call provisions it again
    // No provisioning here: creating the container only to delete it would be wasted requests.
    const container = this.client().database(this.databaseName).container(this.containerName);
    await errors.guard(
      `Deleting container ${this.containerName}`,
      () => container.delete(),
      errors.on([NOT_FOUND], "gone"),
    );
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  /**
   * Applies `update.operations` to document `id` with one patch conditional on it being live, and
   * answers from the patched document. A missing document (404) is created as `update.fresh`; an
   * expired one (412: the condition failed) is replaced by `update.fresh` under If-Match on the
   * version seen, so concurrent callers restart it once and the rest apply to the restarted one.
   */
  private async updateLive(
    id: string,
    what: string,
    expiresAt: Date | null,
    update: LiveUpdate,
  ): Promise<number> {
    const doing = `Updating ${what}`;
    return this.recovering(async () => {
      const container = await this.connection.get();
      const item = container.item(id, id);
      return retryLostRaces(BACKEND_NAME, doing, async () => {
        const now = Date.now();
        const expiry = expiryFields(expiresAt, now);
        const fresh = { id, ...update.fresh, ...expiry };
        // Whole seconds, rounded down: the condition text then repeats for a second, so engines that
        // cache compiled conditions by text (the local server compiles each new one) reuse it. Down
        // is the safe side: a document may live on < 1 s past expiry (Cosmos's own TTL granularity),
        // never restart early.
        const cutoff = Math.floor(now / 1000) * 1000;
        try {
          const { resource } = await item.patch<StoredDocument>({
            // Lower-case-proof and numeric only: the local test server lower-cases this text.
            condition: `FROM c WHERE NOT IS_DEFINED(c.expires_at) OR IS_NULL(c.expires_at) OR c.expires_at > ${cutoff}`,
            operations: [
              ...update.operations,
              { op: "set", path: "/expires_at", value: expiry.expires_at },
              { op: "set", path: "/ttl", value: expiry.ttl },
            ],
          });
          return update.answer(resource ?? { id });
        } catch (error) {
          const status = statusOf(error);
          if (status === NOT_FOUND) {
            if (await this.tryInsert(container, fresh)) return update.answer(fresh);
          } else if (status === PRECONDITION_FAILED) {
            // Expired: restart it, but only a version that is itself expired. Between the 412 and
            // this read another client may have restarted it and applied theirs; replacing that
            // live document would lose their changes, so apply to it instead (the next attempt).
            const { resource, etag } = await errors.guard(`Reading ${what}`, () =>
              item.read<StoredDocument>(),
            );
            const expired =
              typeof resource?.expires_at === "number" && resource.expires_at <= cutoff;
            if (
              resource &&
              etag &&
              expired &&
              (await this.tryReplaceDocument(container, fresh, etag))
            )
              return update.answer(fresh);
          } else {
            throw writeErrors.wrapError(error, doing);
          }
        }
        return LOST_RACE;
      });
    });
  }

  private client(): CosmosClient {
    this.owned ??= buildClient(this.options, this.resolved);
    return this.owned.client;
  }

  /** The stored version of a task (remembered for the next write), or null. */
  /**
   * Runs `call`, which reaches the container through `this.connection`. The container is set up
   * once per store, so when it vanishes behind our back (the in-memory emulator restarted, an
   * operator deleted it) every call would fail until the process restarts. When a call fails in a
   * way a missing container explains (404; the local emulator answers 500) and the container
   * indeed reads as gone, it is set up again, once for all callers that met it, and the call runs
   * once more: nothing of it landed in a container that was not there, so even `incr` is safe.
   */
  private async recovering<T>(call: () => Promise<T>): Promise<T> {
    const opened = this.connection.get();
    try {
      return await call();
    } catch (error) {
      if (this.resolved.provisioning === "never" || !(await containerGone(error, opened))) {
        throw error;
      }
      this.connection.forget(opened);
      return call();
    }
  }

  /**
   * Remembers `record` as the version `etag` of document `id`, as a copy that shares no object
   * with it: the record is also the caller's (what `read` returned, what a write carried), and a
   * change the caller makes to it later must never reach the next write's merge.
   */
  private remember(id: string, etag: string, record: TaskRecord): void {
    const copy = detachedRecord(record);
    if (copy) this.etags.set(id, etag, copy);
    else this.etags.delete(id);
  }

  private async readVersion(
    container: Container,
    id: string,
    taskId: string,
  ): Promise<Read | null> {
    const { resource, etag } = await errors.guard(`Reading task ${taskId}`, () =>
      container.item(id, id).read<StoredDocument>(),
    );
    if (!resource) {
      this.etags.delete(id);
      return null;
    }
    const record = decodeTask(resource, taskId);
    this.remember(id, etag, record);
    const writeId = typeof resource.write_id === "string" ? resource.write_id : undefined;
    return { version: etag, record, writeId };
  }

  private async tryCreate(container: Container, id: string, write: TaskWrite): Promise<boolean> {
    const record = applyWrite(null, write) as TaskRecord; // nothing stored: the rules always allow
    const etag = await this.tryInsert(
      container,
      encodeTask(record, write.resultJson, write.writeId),
    );
    if (etag) this.remember(id, etag, record);
    return etag !== undefined;
  }

  private async tryReplace(
    container: Container,
    id: string,
    etag: string,
    record: TaskRecord,
    resultJson: string,
    writeId: string | undefined,
  ) {
    assertRecordFits(BACKEND_NAME, record, resultJson, MAX_RECORD_BYTES); // merged metadata grows it
    const doc = encodeTask(record, resultJson, writeId);
    const newEtag = await this.tryReplaceDocument(container, doc, etag);
    if (newEtag) this.remember(id, newEtag, record);
    return newEtag !== undefined;
  }

  /** Creates `doc`; its new ETag, or undefined when it already exists (409). */
  private async tryInsert(
    container: Container,
    doc: ItemDefinition & { id: string },
  ): Promise<string | undefined> {
    const created = await writeErrors.guard(
      `Creating ${doc.id}`,
      () => container.items.create(doc),
      errors.on([CONFLICT], null),
    );
    return created?.etag;
  }

  /** Replaces `doc` if it is still at `etag`; its new ETag, or undefined when it changed or vanished. */
  private async tryReplaceDocument(
    container: Container,
    doc: ItemDefinition & { id: string },
    etag: string,
  ): Promise<string | undefined> {
    const replaced = await writeErrors.guard(
      `Replacing ${doc.id}`,
      () =>
        container
          .item(doc.id, doc.id)
          .replace(doc, { accessCondition: { type: "IfMatch", condition: etag } }),
      errors.on([PRECONDITION_FAILED, NOT_FOUND], null),
    );
    return replaced?.etag;
  }

  /** Deletes an item (only at `etag` when given); whether it was there to delete. */
  private async deleteItem(id: string, etag?: string): Promise<boolean> {
    const container = await this.connection.get();
    return errors.guard(
      `Deleting ${id}`,
      async () => {
        const condition = etag && { accessCondition: { type: "IfMatch", condition: etag } };
        await container.item(id, id).delete(condition || {});
        return true;
      },
      errors.on(etag ? [NOT_FOUND, PRECONDITION_FAILED] : [NOT_FOUND], false),
    );
  }
}

/** Whether `error` came from `opened`'s container being gone (checked by reading it). */
async function containerGone(error: unknown, opened: Promise<Container>): Promise<boolean> {
  const status = statusOf(error);
  if (status !== NOT_FOUND && status !== INTERNAL_ERROR) return false;
  const container = await opened.catch(() => undefined);
  if (!container) return false;
  try {
    await container.read();
    return false;
  } catch (readError) {
    return statusOf(readError) === NOT_FOUND;
  }
}

/** `createStore("cosmosdbsql://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & CosmosUrlOptions = {},
): CosmosBackend {
  const { protocol, ...rest } = options;
  return new CosmosBackend(mergeUrlOptions(optionsFromUrl(url, protocol), rest));
}
