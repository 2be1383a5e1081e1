/** Test helpers: stores in fresh namespaces, and raw reads straight from Consul's HTTP API. */
import { randomUUID } from "node:crypto";
import { ResultStore, type ResultStoreOptions } from "@resultstore/core";
import { afterEach } from "vitest";
import { type ConsulBackend, type ConsulBackendOptions, fromUrl } from "../src/index.js";

/** http://host:port of a consul:// URL. */
export function httpBase(url: string): string {
  const parsed = new URL(url);
  return `http://${parsed.host}`;
}

export function newStore(
  url: string,
  options: ResultStoreOptions = {},
  backend: ConsulBackendOptions = {},
): ResultStore {
  const namespace = `rs-test/${randomUUID()}`;
  const store = new ResultStore(fromUrl(url, { namespace, warn: () => {}, ...backend }), options);
  namespaces.set(store, namespace);
  return store;
}

const namespaces = new WeakMap<ResultStore, string>();

/**
 * `store(...)`: a `newStore` destroyed and closed after the test that made it, as is each store a
 * test pushes to `opened`.
 */
export function storesPerTest(url: string) {
  const opened: ResultStore[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) {
      await s.backend.destroy?.();
      await s.close();
    }
  });
  const store = (options?: ResultStoreOptions, backend?: ConsulBackendOptions) => {
    const s = newStore(url, options, backend);
    opened.push(s);
    return s;
  };
  return { store, opened };
}

/**
 * Another store on `store`'s keys with its own HTTP client, sessions and caches, as a second
 * process would open them: the conformance suite's peer for tests of several writers.
 */
export async function peerStore(url: string, store: ResultStore): Promise<ResultStore> {
  const namespace = namespaces.get(store);
  if (!namespace) throw new Error("peerStore: not a store made by newStore");
  return new ResultStore(fromUrl(url, { namespace, warn: () => {} }));
}

export function consulOf(store: ResultStore): ConsulBackend {
  return store.backend as ConsulBackend;
}

export interface RawEntry {
  key: string;
  value: string;
  modifyIndex: number;
  session: string | null;
}

/** The entry Consul holds for `key`, read with `?consistent`, or null. */
export async function rawEntry(url: string, key: string): Promise<RawEntry | null> {
  const response = await fetch(
    `${httpBase(url)}/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}?consistent`,
  );
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`raw read of ${key}: HTTP ${response.status}`);
  const [entry] = (await response.json()) as {
    Key: string;
    Value: string | null;
    ModifyIndex: number;
    Session?: string;
  }[];
  if (!entry) return null;
  return {
    key: entry.Key,
    value: entry.Value ? Buffer.from(entry.Value, "base64").toString("utf8") : "",
    modifyIndex: entry.ModifyIndex,
    session: entry.Session ?? null,
  };
}

export async function rawPut(url: string, key: string, value: string, query = ""): Promise<string> {
  const path = key.split("/").map(encodeURIComponent).join("/");
  const response = await fetch(`${httpBase(url)}/v1/kv/${path}${query}`, {
    method: "PUT",
    body: value,
  });
  return (await response.text()).trim();
}

export async function sessionInfo(
  url: string,
  id: string,
): Promise<{
  TTL: string;
  Behavior: string;
  LockDelay: number;
  NodeChecks: string[] | null;
} | null> {
  const response = await fetch(`${httpBase(url)}/v1/session/info/${id}`);
  const list = (await response.json()) as
    | { TTL: string; Behavior: string; LockDelay: number; NodeChecks: string[] | null }[]
    | null;
  return list?.[0] ?? null;
}

/** A session like Celery's: TTL, behavior=delete, Consul's default checks and lock-delay. */
export async function celeryLikeSession(url: string, ttlSeconds = 60): Promise<string> {
  const response = await fetch(`${httpBase(url)}/v1/session/create`, {
    method: "PUT",
    body: JSON.stringify({ Name: "celery-like", Behavior: "delete", TTL: `${ttlSeconds}s` }),
  });
  return ((await response.json()) as { ID: string }).ID;
}
