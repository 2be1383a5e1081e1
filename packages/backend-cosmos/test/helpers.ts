/** Test plumbing: the server's URL, its CA (trusted by these clients only) and raw driver access. */
import { randomUUID } from "node:crypto";
import diagnostics from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import type { ClientRequest } from "node:http";
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

/**
 * `open(options)`: a backend on a container of its own; it and whatever else is pushed on
 * `opened` are destroyed and closed by the `afterAll` this registers (call it inside the describe).
 */
export function openedBackends(afterAll: (body: () => Promise<void>) => void) {
  const opened: CosmosBackend[] = [];
  afterAll(async () => {
    for (const b of opened) {
      await b.destroy().catch(() => undefined);
      await b.close();
    }
  });
  const open = (options: CosmosUrlOptions = {}) => {
    const b = backend(options);
    opened.push(b);
    return b;
  };
  return { open, opened };
}

/** Counts document requests (`/docs` paths) the process sends while `body` runs. */
export async function roundTrips(body: () => Promise<unknown>): Promise<number> {
  let count = 0;
  const onStart = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    if (request.path.includes("/docs")) count++;
  };
  diagnostics.subscribe("http.client.request.start", onStart);
  try {
    await body();
  } finally {
    diagnostics.unsubscribe("http.client.request.start", onStart);
  }
  return count;
}
