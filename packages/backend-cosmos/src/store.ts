import type { Container } from "@azure/cosmos";
import type {
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
  chunks,
  endpointOf,
  type KnownVersion,
  LOST_RACE,
  mapLimit,
  mergeUrlOptions,
  retryLostRaces,
  VersionCache,
} from "@resultstore/core/backend";
import * as cosmos from "./client.js";
import { BACKEND_NAME, optionsFromUrl, resolveConfig } from "./config.js";
import { addToSet, incr } from "./counters.js";
import { errors } from "./errors.js";
import { countTasks, findTasks } from "./find.js";
import {
  decodeGroup,
  decodeTask,
  encodeGroup,
  encodeTask,
  keys,
  MAX_RECORD_BYTES,
  type StoredDocument,
} from "./records.js";
import type { CosmosBackendOptions, CosmosUrlOptions } from "./types.js";

const CLEANUP_CONCURRENCY = 16; // parallel deletes
const EXPIRED =
  "SELECT c.id, c._etag FROM c WHERE IS_NUMBER(c.expires_at) AND c.expires_at <= @now";
const READ_MANY_CHUNK = 100; // ids per query: one parameter however many ids
const READ_MANY = "SELECT * FROM c WHERE ARRAY_CONTAINS(@ids, c.id)";
/** A task read back: its ETag, the record, and the call that wrote it (`write_id`). */
type Read = KnownVersion<string> & { writeId?: string | undefined };

/** The Azure Cosmos DB (SQL API) backend: Celery's layout, task writes under ETag conditions, native TTL. */
export class CosmosBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly isRetryable = errors.isRetryable;
  /** Cosmos deletes items by `ttl`; reads and `cleanup` also honour `expires_at` (TTL or not). */
  readonly capabilities = { nativeExpiry: true, maxRecordBytes: MAX_RECORD_BYTES };
  readonly telemetry: BackendTelemetry;
  /** The database and container (`<containerName>_<namespace>`) this store's records live in. */
  readonly databaseName: string;
  readonly containerName: string;
  /** The last version this process saw of each task, so a following write is one request. */
  private readonly etags: VersionCache<string>;
  private readonly connection: cosmos.ContainerConnection;

  constructor(options: CosmosBackendOptions) {
    const config = resolveConfig(options);
    this.databaseName = config.databaseName;
    this.containerName = config.containerName;
    this.etags = new VersionCache<string>(config.etagCacheSize);
    this.connection = new cosmos.ContainerConnection(config);
    this.telemetry = {
      system: "azure.cosmosdb",
      namespace: this.databaseName,
      collection: this.containerName,
      ...endpointOf(config.source.kind === "own" ? config.source.options.endpoint : undefined, 443),
    };
  }

  /** Create, or replace under the known ETag; read and retry after a lost race (README: guard). */
  write(write: TaskWrite): Promise<WriteOutcome> {
    return this.connection.run(async (container) => {
      const cached: Read | undefined = this.etags.get(keys.task(write.taskId));
      // A create (409 if the task exists): with nothing stored, the rules allow any write.
      if (!cached && (await this.put(container, write, applyWrite(null, write) as TaskRecord))) {
        return { applied: true };
      }
      return retryLostRaces(BACKEND_NAME, `write of task ${write.taskId}`, async (round) => {
        const fresh = round > 0 || !cached; // read during this call: then a refusal is final
        const known = fresh ? await this.readVersion(container, write.taskId) : cached;
        const next = applyWrite(known?.record ?? null, write);
        if (!next && fresh) {
          // Refused, unless the stored document is this very call's: sent again after it landed.
          return { applied: write.writeId !== undefined && known?.writeId === write.writeId };
        }
        // The cache said no (confirm against the stored record), or someone else wrote first.
        const landed = next && (await this.put(container, write, next, known?.version));
        return landed ? { applied: true } : LOST_RACE;
      });
    });
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    return (await this.readVersion(await this.connection.get(), taskId))?.record ?? null;
  }

  /** One query per chunk, all in flight; the ETags are remembered, as a point read's would be. */
  readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const ids = [...new Set(taskIds.map((taskId) => keys.task(taskId)))];
    return this.connection.run(async (container) => {
      const found = new Map<string, StoredDocument>();
      await Promise.all(
        chunks(ids, READ_MANY_CHUNK).map(async (chunk) => {
          const query = { query: READ_MANY, parameters: [{ name: "@ids", value: chunk }] };
          const { resources } = await errors.guard(`read of ${chunk.length} tasks`, () =>
            container.items.query<StoredDocument>(query).fetchAll(),
          );
          for (const doc of resources) found.set(doc.id, doc);
        }),
      );
      return taskIds.map((taskId) => {
        const doc = found.get(keys.task(taskId));
        if (!doc) return null;
        const record = decodeTask(doc, taskId);
        this.etags.set(doc.id, doc._etag, record);
        return record;
      });
    });
  }

  async remove(taskId: string): Promise<void> {
    const id = keys.task(taskId);
    this.etags.delete(id);
    await cosmos.deleteItem(await this.connection.get(), id, `removal of task ${taskId}`);
  }

  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.connection.run((container) => incr(container, key, by, expiresAt));
  }

  async removeCounter(key: string): Promise<void> {
    const id = keys.counter(key);
    await cosmos.deleteItem(await this.connection.get(), id, `removal of counter ${key}`);
  }

  addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.connection.run((container) => addToSet(container, key, member, expiresAt));
  }

  /** Celery creates the group document (409 on a second save); we upsert so a re-save works. */
  async saveGroup(group: GroupRecord): Promise<void> {
    await this.connection.run((container) =>
      errors.guard(`save of group ${group.groupId}`, () =>
        container.items.upsert(encodeGroup(group)),
      ),
    );
  }

  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const container = await this.connection.get();
    const id = keys.group(groupId);
    const { resource } = await cosmos.readItem(container, id, `read of group ${groupId}`);
    return resource ? decodeGroup(resource, groupId) : null;
  }

  async removeGroup(groupId: string): Promise<void> {
    const id = keys.group(groupId);
    await cosmos.deleteItem(await this.connection.get(), id, `removal of group ${groupId}`);
  }

  /** One ordered query of ours, a scan of Celery's layout, merged (README "Finding tasks"). */
  find(query: FindQuery): Promise<TaskRecord[]> {
    return this.connection.run((container) => findTasks(container, query));
  }

  /** Statuses of ours read and counted a page at a time, Celery's layout scanned. */
  countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    return this.connection.run((container) => countTasks(container, query));
  }

  /** Deletes what expired by `expires_at`, each under the ETag the query saw (README: Expiry and cleanup). */
  cleanup(now: Date): Promise<number> {
    return this.connection.run(async (container) => {
      const query = { query: EXPIRED, parameters: [{ name: "@now", value: now.getTime() }] };
      const { resources } = await errors.guard("cleanup", () =>
        container.items.query<{ id: string; _etag: string }>(query).fetchAll(),
      );
      const deleted = await mapLimit(resources, CLEANUP_CONCURRENCY, (doc) =>
        cosmos.deleteItem(container, doc.id, "cleanup", doc._etag),
      );
      return deleted.filter(Boolean).length;
    });
  }

  async close(): Promise<void> {
    this.etags.clear();
    await this.connection.close();
  }

  /** Deletes this store's container (its namespace): every task, group and counter in it. */
  async destroy(): Promise<void> {
    this.etags.clear();
    await this.connection.drop();
  }

  /** The stored version of a task (remembered for the next write), or null. */
  private async readVersion(container: Container, taskId: string): Promise<Read | null> {
    const id = keys.task(taskId);
    const { resource, etag } = await cosmos.readItem(container, id, `read of task ${taskId}`);
    if (!resource) {
      this.etags.delete(id);
      return null;
    }
    const record = decodeTask(resource, taskId);
    this.etags.set(id, etag, record);
    const writeId = typeof resource.write_id === "string" ? resource.write_id : undefined;
    return { version: etag, record, writeId };
  }

  /** Creates the task's document, or replaces its version `etag`; whether `record` landed. */
  private async put(container: Container, write: TaskWrite, record: TaskRecord, etag?: string) {
    // Merged metadata may have grown the record past what core measured.
    if (etag) assertRecordFits(BACKEND_NAME, record, write.resultJson, MAX_RECORD_BYTES);
    const doc = encodeTask(record, write.resultJson, write.writeId);
    const label = `write of task ${write.taskId}`;
    const landed = etag
      ? await cosmos.replaceItem(container, doc, etag, label)
      : await cosmos.createItem(container, doc, label);
    if (landed) this.etags.set(doc.id, landed, record);
    return typeof landed === "string";
  }
}

/** `createStore("cosmosdbsql://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(url: string, options: BackendUrlOptions & CosmosUrlOptions = {}) {
  const { protocol, ...rest } = options;
  return new CosmosBackend(mergeUrlOptions(optionsFromUrl(url, protocol), rest));
}
