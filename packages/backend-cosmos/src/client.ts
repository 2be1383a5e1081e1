/** The Cosmos client, the container (provisioned, reopened) and the conditional document calls. */
import { Agent } from "node:https";
import type { Container, ItemDefinition } from "@azure/cosmos";
import { CosmosClient, PartitionKeyKind, StatusCodes } from "@azure/cosmos";
import { ConfigurationError, StoreClosedError } from "@resultstore/core";
import { LazyConnection } from "@resultstore/core/backend";
import { BACKEND_NAME, type ClientSource, type ResolvedConfig } from "./config.js";
import { errors, writeErrors } from "./errors.js";
import { FIND_INDEXES } from "./find.js";
import type { StoredDocument } from "./records.js";

const { NotFound, Conflict, PreconditionFailed, InternalServerError } = StatusCodes;

/** The store's container, provisioned on first use and again when it vanished (`run`); the client too. */
export class ContainerConnection extends LazyConnection<Container> {
  private owned: { client: CosmosClient; release(): void } | undefined;

  constructor(private readonly config: ResolvedConfig) {
    super(BACKEND_NAME, () => openContainer(this.container(), config));
  }

  /** The container by name, without provisioning it. */
  container(): Container {
    this.owned ??= buildClient(this.config.source);
    const { databaseName, containerName } = this.config;
    return this.owned.client.database(databaseName).container(containerName);
  }

  /** `body` with the container, run once more on a new one if it vanished (see `gone`). */
  run<T>(body: (container: Container) => Promise<T>): Promise<T> {
    return this.reopening(body, (error) => this.gone(error));
  }

  /** Deletes the container, unprovisioned (creating it to delete it would waste requests). */
  async drop(): Promise<void> {
    if (this.isClosed) throw new StoreClosedError(BACKEND_NAME);
    this.reset(); // a later call provisions it again
    const label = `removal of container ${this.config.containerName}`;
    await errors.guard(label, () => this.container().delete(), errors.on([NotFound], "gone"));
  }

  override close(): Promise<void> {
    return super.close(() => this.owned?.release());
  }

  /** A 404 (the emulator: 500) and the container is gone: nothing landed, a rerun is safe (README). */
  private async gone(error: unknown): Promise<boolean> {
    const vanishing = errors.on([NotFound, InternalServerError], true)(error);
    if (!vanishing || this.config.provisioning === "never") return false;
    try {
      await this.container().read();
      return false;
    } catch (readError) {
      return errors.statusOf(readError) === NotFound;
    }
  }
}

function buildClient(source: ClientSource) {
  if (source.kind === "given") {
    const { client, dispose } = source;
    return { client, release: () => (dispose ? client.dispose() : undefined) };
  }
  // Trust `ca` for this client's agent only; nothing process-wide changes.
  const agent = source.ca ? new Agent({ ca: source.ca, keepAlive: true }) : undefined;
  const client = new CosmosClient(agent ? { ...source.options, agent } : source.options);
  const release = () => {
    client.dispose();
    agent?.destroy();
  };
  return { client, release };
}

/** `container`, created if missing and `provisioning` is "auto" (README: Provisioning). */
async function openContainer(container: Container, config: ResolvedConfig) {
  const { database } = container;
  const where = `container ${database.id}/${container.id}`;
  const read = () => container.read();
  if (await errors.guard(`read of ${where}`, read, errors.on([NotFound], null))) return container;
  if (config.provisioning === "never") {
    const problem = `The ${where} does not exist and \`provisioning\` is "never".`;
    throw new ConfigurationError(BACKEND_NAME, problem);
  }
  const exists = errors.on([Conflict], "exists");
  const createDatabase = () => database.client.databases.create({ id: database.id });
  await errors.guard(`provisioning of database ${database.id}`, createDatabase, exists);
  const createContainer = () =>
    database.containers.create({
      id: container.id,
      // Celery's: the key is id and partition key. TTL on, each item's `ttl` deciding (README).
      partitionKey: { paths: ["/id"], kind: PartitionKeyKind.Hash },
      defaultTtl: -1,
      // Only on a container we create: replacing an existing one's policy is the operator's call
      // (an index rebuild on Cosmos DB; the local test server drops every document) (README).
      indexingPolicy: { compositeIndexes: FIND_INDEXES },
    });
  await errors.guard(`provisioning of ${where}`, createContainer, exists);
  return container;
}

type Document = ItemDefinition & { id: string };
const ifMatch = (etag: string) => ({ accessCondition: { type: "IfMatch", condition: etag } });

/** Point-reads item `id`: its document (undefined when missing) and ETag. */
export function readItem(container: Container, id: string, label: string) {
  return errors.guard(label, () => container.item(id, id).read<StoredDocument>());
}

/** Creates `doc`; its ETag, or null when it already exists (409). */
export function createItem(container: Container, doc: Document, label: string) {
  const create = async () => (await container.items.create(doc)).etag;
  return writeErrors.guard(label, create, errors.on([Conflict], null));
}

/** Replaces `doc` if it is still at `etag`; its new ETag, or null when it changed or vanished. */
export function replaceItem(container: Container, doc: Document, etag: string, label: string) {
  const item = container.item(doc.id, doc.id);
  const replace = async () => (await item.replace(doc, ifMatch(etag))).etag;
  return writeErrors.guard(label, replace, errors.on([PreconditionFailed, NotFound], null));
}

/** Deletes item `id` (only at `etag` when given); whether it was there to delete. */
export function deleteItem(container: Container, id: string, label: string, etag?: string) {
  const remove = async () => {
    await container.item(id, id).delete(etag ? ifMatch(etag) : {});
    return true;
  };
  const absent = etag ? [NotFound, PreconditionFailed] : [NotFound];
  return errors.guard(label, remove, errors.on(absent, false));
}
