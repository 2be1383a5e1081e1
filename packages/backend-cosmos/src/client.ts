/** The Cosmos client, the container (created on first use) and the conditional document calls. */
import { Agent } from "node:https";
import type { CosmosClient as Client, Container, ItemDefinition } from "@azure/cosmos";
import { CosmosClient, PartitionKeyKind, StatusCodes } from "@azure/cosmos";
import { ConfigurationError } from "@resultstore/core";
import { BACKEND_NAME, type ClientSource, type ResolvedConfig } from "./config.js";
import { errors, writeErrors } from "./errors.js";

const { NotFound, Conflict, PreconditionFailed, InternalServerError } = StatusCodes;

/** A client, and what `close()` must release: only what we created ourselves. */
export type OwnedClient = { client: Client; release(): void };

export function buildClient(source: ClientSource): OwnedClient {
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

/**
 * `container`, created first when `provisioning` is "auto". A read comes first so that an existing
 * container needs no create permission; creates tolerate 409 so processes starting at once all succeed.
 */
export async function openContainer(container: Container, config: ResolvedConfig) {
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
      // Celery's layout: the key-value key is both the id and the partition key.
      partitionKey: { paths: ["/id"], kind: PartitionKeyKind.Hash },
      // -1: TTL on, no default; each item's own `ttl` decides (absent or -1 = never expires).
      defaultTtl: -1,
    });
  await errors.guard(`provisioning of ${where}`, createContainer, exists);
  return container;
}

/**
 * Whether `error` came from the container being gone behind our back (the in-memory emulator
 * restarted, an operator deleted it): a status it explains (404; the emulator answers 500), and a
 * read of it answering 404. The store then sets it up again and runs the call once more: nothing
 * of the call landed in a container that was not there, so even `incr` is safe.
 */
export async function containerGone(error: unknown, container: () => Container) {
  const status = errors.statusOf(error);
  if (status !== NotFound && status !== InternalServerError) return false;
  try {
    await container().read();
    return false;
  } catch (readError) {
    return errors.statusOf(readError) === NotFound;
  }
}

type Document = ItemDefinition & { id: string };
const ifMatch = (etag: string) => ({ accessCondition: { type: "IfMatch", condition: etag } });

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
