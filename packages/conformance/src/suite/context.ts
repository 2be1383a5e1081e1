/** What every group of the suite shares: its store, unique ids, and the raw read-back checks. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { ResultStore } from "@resultstore/core";
import type { ConformanceOptions, RawRecord, SuiteGroup, TestApi } from "../api.js";

export type Ctx = { store: () => ResultStore; options: ConformanceOptions; api: TestApi };

export const id = (label = "t") => `${label}-${randomUUID()}`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One group of the suite: registers its tests under a describe block with their own store. */
export type GroupTests = (api: TestApi, options: ConformanceOptions) => void;

/**
 * Defines group `name`: `body` registers its tests (`ctx.store()` is the group's store), unless
 * the backend opted out of the group.
 */
export const defineGroup =
  (
    name: SuiteGroup,
    body: (ctx: Ctx, api: TestApi, options: ConformanceOptions) => void,
  ): GroupTests =>
  (api, options) => {
    const reason = options.optOut?.[name];
    api.describe(name, () => {
      if (reason) {
        api.it(`opted out: ${reason}`, () => {
          assert.ok(reason.length > 10, "an opt-out must name the database limit behind it");
        });
        return;
      }
      let store: ResultStore | undefined;
      const timeout = options.timeoutMs ?? 60_000;
      api.beforeAll(async () => {
        store = await options.createStore();
      }, timeout);
      api.afterAll(async () => {
        if (!store) return;
        await store.backend.destroy?.();
        await store.close();
      }, timeout);
      const ctx = { store: () => store as ResultStore, options, api };
      body(ctx, api, options);
    });
  };

/**
 * Runs `body` with `count` more stores on the group store's namespace, as other processes (the
 * backend's `createPeer`; the group store itself where it has none), closed afterwards.
 */
export async function withPeers<T>(
  ctx: Ctx,
  count: number,
  body: (peers: ResultStore[]) => Promise<T>,
): Promise<T> {
  const { createPeer } = ctx.options;
  const peers: ResultStore[] = [];
  try {
    for (let i = 0; i < count; i++)
      peers.push(createPeer ? await createPeer(ctx.store()) : ctx.store());
    return await body(peers);
  } finally {
    if (createPeer) await Promise.all(peers.map((peer) => peer.close()));
  }
}

export async function raw(ctx: Ctx, taskId: string): Promise<RawRecord | null | undefined> {
  return ctx.options.readRaw?.(ctx.store(), taskId);
}

/** Asserts the database holds exactly `expected` (status and metadata) for `taskId`, or nothing. */
export async function assertPersisted(
  ctx: Ctx,
  taskId: string,
  expected: { status: string; metadata?: object } | null,
) {
  const meta = await ctx.store().getMeta(taskId);
  assert.equal(meta.status, expected ? expected.status : "PENDING", `status of ${taskId}`);
  if (expected?.metadata) assert.deepEqual(meta.metadata, expected.metadata);
  if (!ctx.options.readRaw) return;
  const record = await raw(ctx, taskId);
  if (!expected) {
    assert.equal(record, null, `nothing should be stored for ${taskId}`);
    return;
  }
  assert.ok(record, `a raw record should exist for ${taskId}`);
  assert.equal(record.status, expected.status);
  if (expected.metadata) assert.deepEqual(record.metadata, expected.metadata);
}
