/** Opening a store for a command, and closing it without hiding the error that mattered. */
import { randomUUID } from "node:crypto";
import { type BackendModule, createStore, type ResultStore } from "@resultstore/core";
import { schemeOf } from "@resultstore/core/backend";

/** What commands accept beside the URL: bundled programs pass backend modules in. */
export interface StoreChoice {
  /** Backend modules for `createStore(url, { backends })`; absent: the URL loader. */
  backends?: readonly BackendModule[];
  /** Options for the backend beside its URL (`createStore`'s `backendOptions`): a namespace, a CA. */
  backendOptions?: Record<string, unknown>;
}

/**
 * Runs `work` on a store in a namespace of its own (`<prefix>_<random>`), then drops the
 * namespace and closes the store. When `work` fails, its error is the one thrown: a failed drop
 * or close (often the same dead server again) never replaces it.
 */
export async function withScratchStore<T>(
  url: string,
  prefix: string,
  choice: StoreChoice,
  work: (store: ResultStore) => Promise<T>,
): Promise<T> {
  const store = await createStore(url, {
    ...(choice.backends && { backends: choice.backends }),
    backendOptions: {
      ...choice.backendOptions,
      namespace: `${prefix}_${randomUUID().slice(0, 8)}`,
    },
  });
  let result: T;
  try {
    result = await work(store);
  } catch (error) {
    await dropAndClose(store).catch(() => {});
    throw error;
  }
  await dropAndClose(store);
  return result;
}

/** Drops the store's namespace (not memory's: it goes with the process), then closes it. */
export async function dropAndClose(store: ResultStore): Promise<void> {
  try {
    if (store.backend.name !== "memory") await store.backend.destroy?.();
  } finally {
    await store.close();
  }
}

/** Opens the store at `url` as it is (no namespace unless given): for reading what others stored. */
export function openStore(url: string, choice: StoreChoice = {}): Promise<ResultStore> {
  return createStore(url, {
    ...(choice.backends && { backends: choice.backends }),
    ...(choice.backendOptions && { backendOptions: choice.backendOptions }),
  });
}

/** Said when a reading command gets memory://: a new process starts with an empty store. */
export const MEMORY_NOTE =
  "note: memory:// lives inside one process, so this command's store is new and empty: every " +
  "task reads as PENDING here. Point --url at the database your workers write to.";

/** Whether `url` is memory://, whose store is private to this process. */
export const isMemoryUrl = (url: string): boolean => schemeOf(url) === "memory";
