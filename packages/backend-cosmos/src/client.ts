/** Builds the Cosmos client and makes sure the database and container exist (auto-provisioning). */
import { Agent } from "node:https";
import {
  type Container,
  CosmosClient,
  type CosmosClientOptions,
  PartitionKeyKind,
} from "@azure/cosmos";
import { ConfigurationError } from "@resultstore/core";
import { BACKEND_NAME, type ResolvedOptions } from "./config.js";
import { CONFLICT, errors, NOT_FOUND } from "./errors.js";
import type { CosmosBackendOptions } from "./types.js";

/** A client plus what `close()` must release (only what we created ourselves). */
export interface OwnedClient {
  client: CosmosClient;
  release(): void;
}

export function buildClient(options: CosmosBackendOptions, resolved: ResolvedOptions): OwnedClient {
  if (options.client) {
    const client = options.client;
    return { client, release: () => (options.closeClient ? client.dispose() : undefined) };
  }
  // Trust `ca` for this client's agent only; nothing process-wide changes.
  const ownAgent =
    !options.agent && options.ca ? new Agent({ ca: options.ca, keepAlive: true }) : undefined;
  const clientOptions: CosmosClientOptions = {
    endpoint: options.endpoint as string,
    consistencyLevel: resolved.consistencyLevel,
    connectionPolicy: {
      // 429s are retried by the SDK after the server's retry-after, as Celery's pydocumentdb does.
      retryOptions: {
        maxRetryAttemptCount: resolved.maxRetryAttempts,
        maxWaitTimeInSeconds: resolved.maxRetryWaitSeconds,
      },
    },
  };
  if (options.key) clientOptions.key = options.key;
  else clientOptions.aadCredentials = options.aadCredentials;
  const agent = options.agent ?? ownAgent;
  if (agent) clientOptions.agent = agent;
  const client = new CosmosClient(clientOptions);
  return {
    client,
    release: () => {
      client.dispose();
      ownAgent?.destroy();
    },
  };
}

/**
 * The container, created on first use when `provisioning` is "auto". A read comes first so that an
 * existing container needs no create permission; creates tolerate 409 so many processes starting
 * at once all succeed.
 */
export async function openContainer(
  client: CosmosClient,
  resolved: ResolvedOptions,
): Promise<Container> {
  const database = client.database(resolved.databaseName);
  const container = database.container(resolved.containerName);
  const where = `container ${resolved.databaseName}/${resolved.containerName}`;
  const found = await errors.guard(
    `Reading ${where}`,
    () => container.read(),
    errors.on([NOT_FOUND], null),
  );
  if (found) return container;
  if (resolved.provisioning === "never") {
    throw new ConfigurationError(
      BACKEND_NAME,
      `The ${where} does not exist and \`provisioning\` is "never".`,
    );
  }
  await ignoreConflict(`Creating database ${resolved.databaseName}`, () =>
    client.databases.create({ id: resolved.databaseName }),
  );
  await ignoreConflict(`Creating ${where}`, () =>
    database.containers.create({
      id: resolved.containerName,
      // Celery's layout: the key-value key is both the id and the partition key.
      partitionKey: { paths: ["/id"], kind: PartitionKeyKind.Hash },
      // -1: TTL on, no default; each item's own `ttl` decides (absent or -1 = never expires).
      defaultTtl: -1,
    }),
  );
  return container;
}

function ignoreConflict(action: string, create: () => Promise<unknown>): Promise<unknown> {
  return errors.guard(action, create, errors.on([CONFLICT], "exists"));
}
