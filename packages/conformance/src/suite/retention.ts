/**
 * Retention by state (`expires: { SUCCESS: …, FAILURE: …, default: … }`): each write carries the
 * lifetime of the state it writes, the database keeps the stored state's expiry (a refused write
 * changes nothing, its expiry included), and groups and counters use `default`.
 */
import assert from "node:assert/strict";
import type { ResultStore } from "@resultstore/core";
import { defineGroup, id, sleep } from "./context.js";

/** Far beyond the test's length: a record with this lifetime must still be there at the end. */
const LONG_SECONDS = 3600;
/**
 * How long past its expiry a record may stay visible: backends that keep a TTL in whole seconds
 * (Cassandra, DynamoDB, Cosmos DB) round it up to the next second boundary (Cassandra counts it
 * from the current whole second: up to 2 s late).
 */
const GRANULARITY_MS = 2000;
/**
 * How far a persisted expiry, read back raw, may sit from the one core computed: the rounding
 * above, plus a second where the raw read turns a remaining TTL back into a date (Cassandra). Tiny
 * beside LONG_SECONDS - short, the difference that must show.
 */
const RAW_TOLERANCE_MS = GRANULARITY_MS + 1000;

/** Asserts the database holds an expiry for `taskId` within [from, to] (ms since epoch), give or take the rounding. */
async function assertRawExpiry(
  readRaw: (store: ResultStore, taskId: string) => Promise<{ expiresAt: Date | null } | null>,
  store: ResultStore,
  taskId: string,
  [from, to]: [number, number],
  what: string,
) {
  const record = await readRaw(store, taskId);
  const at = record?.expiresAt?.getTime();
  assert.ok(at !== undefined, `the database holds an expiry for ${what}`);
  assert.ok(
    at >= from - RAW_TOLERANCE_MS && at <= to + RAW_TOLERANCE_MS,
    `${what}: persisted expiry ${new Date(at).toISOString()} should lie in ` +
      `[${new Date(from).toISOString()}, ${new Date(to).toISOString()}]`,
  );
}

/** `expires` by state: persisted expiries, refused writes leave them alone, short ones turn invisible. */
export const retentionTests = defineGroup("retention", (_ctx, api, options) => {
  const short = options.minExpirySeconds ?? 1;
  api.it(
    "a FAILURE is kept longer than a SUCCESS; a refused write keeps the stored state's expiry",
    async () => {
      const store = await options.createStore({
        expires: { SUCCESS: short, STARTED: short, FAILURE: LONG_SECONDS, default: LONG_SECONDS },
      });
      try {
        const [success, failure, shortStays, group, counter] = [
          id("ret-s"),
          id("ret-f"),
          id("ret-s2"),
          id("ret-g"),
          id("ret-c"),
        ];
        let slowest = 0;
        const timed = async <T>(call: () => Promise<T>): Promise<T> => {
          const began = Date.now();
          const value = await call();
          slowest = Math.max(slowest, Date.now() - began);
          return value;
        };
        const began = Date.now();
        await timed(() => store.markSuccess(success, "short-lived"));
        await timed(() => store.markFailure(failure, new Error("kept for a month")));
        // Refused (a ready state is never replaced by an unready one), carrying STARTED's short expiry.
        const late = await timed(() => store.markStarted(failure));
        assert.equal(late.applied, false, "STARTED after FAILURE is refused");
        await timed(() => store.markSuccess(shortStays, "short-lived too"));
        // Refused (SUCCESS is final), carrying `default`'s long expiry: it must not extend the record.
        const retry = await timed(() => store.markRetry(shortStays, new Error("late retry")));
        assert.equal(retry.applied, false, "RETRY after SUCCESS is refused");
        await timed(() => store.saveGroup(group, [success, failure]));
        assert.equal(await timed(() => store.incr(counter)), 1);
        const written = Date.now();

        if (options.readRaw) {
          const shortWindow: [number, number] = [began + short * 1000, written + short * 1000];
          const longWindow: [number, number] = [
            began + LONG_SECONDS * 1000,
            written + LONG_SECONDS * 1000,
          ];
          await assertRawExpiry(options.readRaw, store, success, shortWindow, "the SUCCESS");
          await assertRawExpiry(options.readRaw, store, failure, longWindow, "the FAILURE");
          await assertRawExpiry(
            options.readRaw,
            store,
            shortStays,
            shortWindow,
            "the SUCCESS a refused RETRY (default: long) reached",
          );
        }

        // Past the short expiry by the rounding above and four times the slowest call seen.
        const margin = GRANULARITY_MS + 4 * slowest;
        await sleep(Math.max(0, written + short * 1000 + margin - Date.now()));
        assert.equal((await store.getMeta(success)).status, "PENDING", "the SUCCESS expired");
        assert.equal((await store.getMeta(shortStays)).status, "PENDING", "so did the other");
        assert.equal((await store.getMeta(failure)).status, "FAILURE", "the FAILURE is kept");
        const saved = await store.restoreGroup(group);
        assert.deepEqual(saved?.taskIds, [success, failure], "groups use default: still there");
        assert.equal(await store.incr(counter), 2, "counters use default: not restarted");

        await store.cleanup();
        if (options.readRaw) {
          assert.equal(await options.readRaw(store, success), null, "cleanup removed the SUCCESS");
          const kept = await options.readRaw(store, failure);
          assert.equal(kept?.status, "FAILURE", "cleanup left the FAILURE");
        }
      } finally {
        await store.backend.destroy?.();
        await store.close();
      }
    },
    short * 1000 + (options.timeoutMs ?? 60_000),
  );
});
