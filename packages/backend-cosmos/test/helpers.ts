/** Test plumbing: the server's URL, its CA (trusted by these clients only) and raw driver access. */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import { type Container, CosmosClient } from "@azure/cosmos";
import { serverTarget } from "@resultstore/conformance";
import { ResultStore, type ResultStoreOptions } from "@resultstore/core";
import { type CosmosBackend, type CosmosUrlOptions, fromUrl } from "../src/index.js";

export const target = serverTarget("COSMOS");

/** The local server's self-signed certificate (RESULTSTORE_COSMOS_CA), for our clients only. */
export const ca = process.env.RESULTSTORE_COSMOS_CA
  ? readFileSync(process.env.RESULTSTORE_COSMOS_CA)
  : undefined;

export const namespace = (label = "t") => `${label}${randomUUID().slice(0, 8)}`;

export function backend(options: CosmosUrlOptions = {}): CosmosBackend {
  return fromUrl(target.url as string, {
    namespace: namespace(),
    ...(ca ? { ca } : {}),
    ...options,
  });
}

export function store(
  options: ResultStoreOptions = {},
  backendOptions: CosmosUrlOptions = {},
): ResultStore {
  return new ResultStore(backend(backendOptions), options);
}

/**
 * Another store on `of`'s container with its own client and ETag cache, as a second process
 * would open it: the conformance suite's peer for tests of several writers.
 */
export function peerStore(of: ResultStore): ResultStore {
  const { databaseName, containerName } = of.backend as CosmosBackend;
  return new ResultStore(backend({ namespace: undefined, databaseName, containerName }));
}

let rawClient: CosmosClient | undefined;

/** A plain driver client, built the way a user would, to read around the store. */
export function rawCosmos(): CosmosClient {
  if (!rawClient) {
    const url = new URL(target.url as string);
    rawClient = new CosmosClient({
      endpoint: `https://${url.host}`,
      key: decodeURIComponent(url.password),
      ...(ca ? { agent: new Agent({ ca }) } : {}),
    });
  }
  return rawClient;
}

export function rawContainer(backend: CosmosBackend): Container {
  return rawCosmos().database(backend.databaseName).container(backend.containerName);
}

export async function readDocument(
  backend: CosmosBackend,
  id: string,
): Promise<Record<string, unknown> | null> {
  const { resource } = await rawContainer(backend).item(id, id).read<Record<string, unknown>>();
  return resource ?? null;
}
