/** Consul-specific behaviour against the real agent: key layout, sessions, the CAS guard, limits. */
import { randomUUID } from "node:crypto";
import { serverTarget } from "@resultstore/conformance";
import {
  BackendConnectionError,
  ConfigurationError,
  ResultStore,
  StoreClosedError,
  ValueTooLargeError,
} from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { ConsulBackend, type FetchLike, fromUrl } from "../src/index.js";
import {
  celeryLikeSession,
  consulOf,
  httpBase,
  rawEntry,
  rawPut,
  sessionInfo,
  storesPerTest,
} from "./helpers.js";

const target = serverTarget("CONSUL");

describe.skipIf(!target.url)(`consul backend ${target.reason}`, () => {
  const url = target.url as string;
  const { store, opened } = storesPerTest(url);
  const taskKey = (s: ResultStore, id: string) => `${consulOf(s).keyPrefix}celery-task-meta-${id}`;

  describe("key layout and values", () => {
    it("stores Celery's meta JSON under <prefix>/<namespace>/celery-task-meta-<id>", async () => {
      const s = store();
      const id = randomUUID();
      await s.markSuccess(id, { n: 42 }, { metadata: { tenant: "acme" } });
      expect(consulOf(s).keyPrefix).toMatch(/^rs-test\/[0-9a-f-]+\/$/);
      const entry = await rawEntry(url, taskKey(s, id));
      const meta = JSON.parse(entry?.value ?? "{}");
      expect(Object.keys(meta)).toEqual([
        "status",
        "result",
        "traceback",
        "children",
        "date_done",
        "metadata",
        "expires_at",
        "updated_at",
        "write_id",
        "task_id",
      ]);
      expect(new Date(meta.updated_at)).toEqual((await s.getMeta(id)).updatedAt);
      expect(meta).toMatchObject({
        status: "SUCCESS",
        result: { n: 42 },
        traceback: null,
        task_id: id,
        metadata: { tenant: "acme" },
      });
      expect(entry?.value).toContain('"status": "SUCCESS", "result": {"n": 42}');
    });

    it('saves groups as Celery\'s {"result": <group tuple>} and counters as JSON', async () => {
      const s = store();
      const [gid, a, b] = [randomUUID(), randomUUID(), randomUUID()];
      await s.saveGroup(gid, [a, b]);
      const group = JSON.parse(
        (await rawEntry(url, `${consulOf(s).keyPrefix}celery-taskset-meta-${gid}`))?.value ?? "{}",
      );
      expect(group.result).toEqual([
        [gid, null],
        [
          [[a, null], null],
          [[b, null], null],
        ],
      ]);
      expect(await s.incr(`chord-unlock-${gid}`, 3)).toBe(3);
      const counter = JSON.parse(
        (await rawEntry(url, `${consulOf(s).keyPrefix}chord-unlock-${gid}`))?.value ?? "{}",
      );
      expect(counter.count).toBe(3);
    });

    it("keeps sets in their own folder with their expiry; cleanup() and destroy() remove them", async () => {
      const s = store({ expires: 1 }, { sessionExpiry: false });
      const gid = randomUUID();
      const key = `chord-members-${gid}`;
      const soon = new Date(Date.now() + 1000);
      expect(await s.backend.addToSet(key, "a", soon)).toBe(1);
      expect(await s.backend.addToSet(key, "b", soon)).toBe(2);
      expect(await s.backend.addToSet(key, "a", soon)).toBe(2);
      const setKey = `${consulOf(s).keyPrefix}resultstore-sets/${key}`;
      const stored = JSON.parse((await rawEntry(url, setKey))?.value ?? "{}");
      expect(stored.members).toEqual(["a", "b"]);
      expect(new Date(stored.expires_at).getTime()).toBe(soon.getTime());
      expect(await rawEntry(url, `${consulOf(s).keyPrefix}${key}`)).toBeNull(); // no counter
      await new Promise((r) => setTimeout(r, 1100));
      expect(await s.cleanup()).toBe(1);
      expect(await rawEntry(url, setKey)).toBeNull();
      const kept = store();
      await kept.backend.addToSet(key, "a", null);
      await kept.backend.destroy?.();
      expect(await rawEntry(url, `${consulOf(kept).keyPrefix}resultstore-sets/${key}`)).toBeNull();
    });

    it("reads records Celery wrote (no metadata, expires_at nor updated_at; naive date_done)", async () => {
      const s = store();
      const id = randomUUID();
      await rawPut(
        url,
        taskKey(s, id),
        `{"status": "SUCCESS", "result": [1, {"a": NaN}], "traceback": null, "children": [], "date_done": "2024-05-01T12:00:00.123456", "task_id": "${id}"}`,
      );
      const meta = await s.getMeta(id);
      expect(meta.status).toBe("SUCCESS");
      expect(meta.dateDone?.toISOString()).toBe("2024-05-01T12:00:00.123Z");
      expect(meta.metadata).toEqual({});
      expect(meta.updatedAt).toBeNull();
      expect((await s.backend.read(id))?.expiresAt).toBeNull();
    });
  });

  describe("expiry through shared sessions", () => {
    it("locks each record with a session (TTL, behavior=delete, no checks, no lock-delay) shared by many keys", async () => {
      const s = store({ expires: 3600 });
      const ids = Array.from({ length: 20 }, () => randomUUID());
      await Promise.all(ids.map((id) => s.markSuccess(id, 1)));
      const sessions = new Set(
        (await Promise.all(ids.map((id) => rawEntry(url, taskKey(s, id))))).map((e) => e?.session),
      );
      expect(sessions.size).toBeLessThanOrEqual(2); // one bucket, or two if a bucket edge fell in between
      const info = await sessionInfo(url, [...sessions][0] as string);
      expect(info?.Behavior).toBe("delete");
      expect(info?.LockDelay).toBe(0);
      expect(info?.NodeChecks ?? []).toEqual([]);
      const ttl = Number.parseInt(info?.TTL ?? "0", 10);
      expect(ttl).toBeGreaterThanOrEqual(3600);
      expect(ttl).toBeLessThanOrEqual(3600 + 60);
    });

    it("moves the key to a later session on a later write (never refused like Celery's second acquire)", async () => {
      const s = store({ expires: 3600 });
      const id = randomUUID();
      const other = await celeryLikeSession(url);
      // A key held by another session, as Celery's own write leaves it.
      expect(
        await rawPut(
          url,
          taskKey(s, id),
          `{"status": "STARTED", "result": null, "traceback": null, "children": [], "date_done": null, "task_id": "${id}"}`,
          `?acquire=${other}`,
        ),
      ).toBe("true");
      expect(
        await rawPut(url, taskKey(s, id), "{}", `?acquire=${await celeryLikeSession(url)}`),
      ).toBe("false");
      expect((await s.markSuccess(id, "done")).applied).toBe(true);
      const entry = await rawEntry(url, taskKey(s, id));
      expect(JSON.parse(entry?.value ?? "{}").status).toBe("SUCCESS");
      expect(entry?.session).toBeTruthy();
      expect(entry?.session).not.toBe(other);
    });

    it("writes no session for expires: null, and releases one a later write no longer wants", async () => {
      const withExpiry = store({ expires: 600 });
      const id = randomUUID();
      await withExpiry.markStarted(id);
      expect((await rawEntry(url, taskKey(withExpiry, id)))?.session).toBeTruthy();
      const forever = new ResultStore(fromUrl(url, { prefix: consulOf(withExpiry).keyPrefix }), {
        expires: null,
      });
      await forever.markSuccess(id, 1);
      const entry = await rawEntry(url, taskKey(withExpiry, id));
      expect(entry?.session).toBeNull();
      expect(JSON.parse(entry?.value ?? "{}").expires_at).toBeNull();
      await forever.close();
    });

    it("clamps expiries under 10 s to Consul's minimum TTL, with one warning", async () => {
      const warnings: string[] = [];
      const s = store({ expires: 1 }, { warn: (m) => warnings.push(m) });
      await s.markSuccess(randomUUID(), 1);
      await s.markSuccess(randomUUID(), 2);
      const id = randomUUID();
      await s.markSuccess(id, 3);
      const info = await sessionInfo(url, (await rawEntry(url, taskKey(s, id)))?.session as string);
      expect(info?.TTL).toBe("10s");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/10 s/);
    });

    it("gives expiries beyond Consul's 24 h cap no session (cleanup's job), with one warning", async () => {
      const warnings: string[] = [];
      const s = store({ expires: 7 * 86_400 }, { warn: (m) => warnings.push(m) });
      const id = randomUUID();
      await s.markSuccess(id, 1);
      await s.markSuccess(randomUUID(), 1);
      const entry = await rawEntry(url, taskKey(s, id));
      expect(entry?.session).toBeNull();
      expect(Date.parse(JSON.parse(entry?.value ?? "{}").expires_at)).toBeGreaterThan(
        Date.now() + 6 * 86_400_000,
      );
      expect(warnings).toHaveLength(1);
    });

    it("warns once when its sessions would live on a client agent's node (they die with it)", async () => {
      const asked: string[] = [];
      const clientAgent: FetchLike = async (target, init) => {
        if (new URL(target).pathname !== "/v1/agent/self") return fetch(target, init);
        asked.push(target);
        const self = { Config: { NodeName: "client-7", Server: false } };
        return { status: 200, text: async () => JSON.stringify(self) };
      };
      const warnings: string[] = [];
      const warn = (m: string) => warnings.push(m);
      const s = store({ expires: 600 }, { fetch: clientAgent, warn });
      await s.markSuccess(randomUUID(), 1);
      await s.markSuccess(randomUUID(), 2);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/client agent client-7.*sessionNode/);
      // The real dev agent is a server: no warning. With sessionNode, no question asked.
      const quiet: string[] = [];
      await store({ expires: 600 }, { warn: (m) => quiet.push(m) }).markSuccess(randomUUID(), 1);
      const node = (
        (await (await fetch(`${httpBase(url)}/v1/agent/self`)).json()) as {
          Config: { NodeName: string };
        }
      ).Config.NodeName;
      asked.length = 0;
      const pinned = store({ expires: 600 }, { fetch: clientAgent, sessionNode: node, warn });
      await pinned.markSuccess(randomUUID(), 1);
      expect(quiet).toEqual([]);
      expect(asked).toEqual([]);
      expect(warnings).toHaveLength(1);
    });

    it("lets Consul delete the key when its session expires", async () => {
      const s = store({ expires: 1 });
      const id = randomUUID();
      await s.markSuccess(id, 1);
      const session = (await rawEntry(url, taskKey(s, id)))?.session as string;
      // Ending the session is what its TTL does at the latest 2×TTL later; don't wait 20 s for it.
      await fetch(`${httpBase(url)}/v1/session/destroy/${session}`, { method: "PUT" });
      expect(await rawEntry(url, taskKey(s, id))).toBeNull();
      // The next write to a fresh key notices nothing: the dead session is replaced.
      expect((await s.markSuccess(randomUUID(), 2)).applied).toBe(true);
    });

    it("writes a key under a dead foreign session's lock-delay without a session, not dropping it", async () => {
      const s = store({ expires: 600 });
      const id = randomUUID();
      const celerys = await celeryLikeSession(url); // Consul's default 15 s lock-delay, like Celery's
      await rawPut(url, taskKey(s, id), "{}", `?acquire=${celerys}`);
      await fetch(`${httpBase(url)}/v1/session/destroy/${celerys}`, { method: "PUT" });
      expect((await s.markSuccess(id, "kept")).applied).toBe(true);
      const entry = await rawEntry(url, taskKey(s, id));
      expect(entry?.session).toBeNull();
      expect(JSON.parse(entry?.value ?? "{}")).toMatchObject({ status: "SUCCESS", result: "kept" });
      expect(JSON.parse(entry?.value ?? "{}").expires_at).toBeTruthy();
    });

    it("sessionExpiry: false writes no session; cleanup() removes expired keys", async () => {
      const s = store({ expires: 1 }, { sessionExpiry: false });
      expect(s.backend.capabilities.nativeExpiry).toBe(false);
      const id = randomUUID();
      await s.markSuccess(id, 1);
      expect((await rawEntry(url, taskKey(s, id)))?.session).toBeNull();
      await new Promise((r) => setTimeout(r, 1100));
      expect(await s.cleanup()).toBe(1);
      expect(await rawEntry(url, taskKey(s, id))).toBeNull();
    });
  });

  describe("the check-and-set guard", () => {
    /** A fetch that lets `beforeFirstTxn` write to Consul between our read and our transaction. */
    function interposing(beforeFirstTxn: () => Promise<void>): FetchLike {
      let fired = false;
      return async (target, init) => {
        if (!fired && init.method === "PUT" && target.includes("/v1/txn")) {
          fired = true;
          await beforeFirstTxn();
        }
        return fetch(target, init);
      };
    }

    it("a write racing a foreign SUCCESS re-reads and is refused, keeping SUCCESS", async () => {
      const namespace = `rs-test/${randomUUID()}`;
      const id = randomUUID();
      const key = `${namespace}/celery-task-meta-${id}`;
      const backend = fromUrl(url, {
        namespace,
        fetch: interposing(async () => {
          await rawPut(
            url,
            key,
            `{"status": "SUCCESS", "result": "theirs", "traceback": null, "children": [], "date_done": "2024-05-01T12:00:00+00:00", "task_id": "${id}"}`,
          );
        }),
      });
      const s = new ResultStore(backend);
      opened.push(s);
      expect((await s.markStarted(id)).applied).toBe(false);
      expect((await s.getMeta(id)).result).toBe("theirs");
    });

    it("a write racing a foreign STARTED re-reads and applies on top, merging metadata", async () => {
      const namespace = `rs-test/${randomUUID()}`;
      const id = randomUUID();
      const key = `${namespace}/celery-task-meta-${id}`;
      const s = new ResultStore(fromUrl(url, { namespace }));
      opened.push(s);
      await s.markQueued(id, { metadata: { kept: true } });
      const racing = new ResultStore(
        fromUrl(url, {
          namespace,
          fetch: interposing(async () => {
            const stored = JSON.parse((await rawEntry(url, key))?.value ?? "{}");
            await rawPut(
              url,
              key,
              JSON.stringify({ ...stored, metadata: { ...stored.metadata, foreign: 1 } }),
            );
          }),
        }),
      );
      expect((await racing.markSuccess(id, "ok", { metadata: { ours: 2 } })).applied).toBe(true);
      expect((await s.getMeta(id)).metadata).toEqual({ kept: true, foreign: 1, ours: 2 });
      await racing.close();
    });

    /** A fetch that records "METHOD /v1/path" of every request. */
    function counting(log: string[]): FetchLike {
      return async (target, init) => {
        log.push(
          `${init.method ?? "GET"} ${new URL(target).pathname.split("/").slice(0, 3).join("/")}`,
        );
        return fetch(target, init);
      };
    }

    it("creates a new id in one transaction; a key another process created is still guarded", async () => {
      const namespace = `rs-test/${randomUUID()}`;
      const id = randomUUID();
      const log: string[] = [];
      const producer = new ResultStore(
        fromUrl(url, { namespace, sessionExpiry: false, fetch: counting(log) }),
      );
      opened.push(producer);
      expect((await producer.markSuccess(id, 1, { metadata: { a: 1 } })).applied).toBe(true);
      expect(log).toEqual(["PUT /v1/txn"]);

      // Another process has never seen the key: its create fails, then read + check-and-set.
      log.length = 0;
      const worker = new ResultStore(
        fromUrl(url, { namespace, sessionExpiry: false, fetch: counting(log) }),
      );
      opened.push(worker);
      expect((await worker.markStarted(id)).applied).toBe(false);
      expect(log).toEqual(["PUT /v1/txn", "GET /v1/kv"]);
      expect(await producer.getMeta(id)).toMatchObject({ status: "SUCCESS", metadata: { a: 1 } });

      // Once seen, a write reads first (no failed create).
      log.length = 0;
      expect((await worker.markRetry(id, new Error("x"))).applied).toBe(false);
      expect(log).toEqual(["GET /v1/kv"]);
    });

    it("getMany reads 64 keys per read-only transaction, unknown ids included", async () => {
      const log: string[] = [];
      const s = store({}, { fetch: counting(log) });
      const ids = Array.from({ length: 100 }, () => randomUUID());
      await Promise.all(ids.slice(0, 50).map((id) => s.markSuccess(id, id)));
      log.length = 0;
      const metas = await s.getMany(ids);
      expect(log).toEqual(["PUT /v1/txn", "PUT /v1/txn"]);
      expect(metas.slice(0, 50).map((m) => m.result)).toEqual(ids.slice(0, 50));
      expect(metas.slice(50).every((m) => m.status === "PENDING")).toBe(true);
    });

    it("cleanup() without a prefix never reads, nor deletes, a foreign key at the KV root", async () => {
      const foreign = `foo-${randomUUID()}`;
      const past = new Date(Date.now() - 3_600_000).toISOString();
      await rawPut(url, foreign, JSON.stringify({ expires_at: past, status: "SUCCESS" }));
      const listed: string[] = [];
      const root = new ResultStore(
        fromUrl(url, {
          sessionExpiry: false,
          warn: () => {},
          fetch: async (target, init) => {
            if (init.method === "GET" && /[?&]keys/.test(target)) listed.push(target);
            return fetch(target, init);
          },
        }),
        { expires: 1 },
      );
      const id = randomUUID();
      try {
        await root.markSuccess(id, 1);
        await root.backend.addToSet(`chord-members-${id}`, "m", new Date(Date.now() + 1000));
        await new Promise((r) => setTimeout(r, 1100));
        expect(await root.cleanup()).toBeGreaterThanOrEqual(2); // our own expired keys go
        expect(await rawEntry(url, `celery-task-meta-${id}`)).toBeNull();
        expect(await rawEntry(url, `resultstore-sets/chord-members-${id}`)).toBeNull();
        expect(await rawEntry(url, foreign)).not.toBeNull();
        // Only our own key names were listed, never the whole store.
        expect(listed.length).toBeGreaterThan(0);
        for (const target of listed) {
          expect(new URL(target).pathname).toMatch(
            /^\/v1\/kv\/((celery-task|celery-taskset|chord)-|resultstore-sets\/)/,
          );
        }
      } finally {
        await fetch(`${httpBase(url)}/v1/kv/${foreign}`, { method: "DELETE" });
        await root.backend.remove(id);
        await root.close();
      }
    });

    it("cleanup() spares a key rewritten after it was listed", async () => {
      const s = store({ expires: 60 }, { sessionExpiry: false });
      const id = randomUUID();
      await s.markStarted(id);
      const prefix = consulOf(s).keyPrefix;
      const racing = fromUrl(url, {
        prefix,
        fetch: async (target, init) => {
          // A writer refreshes the record between cleanup's listing and its delete.
          if (init.method === "DELETE") await s.markSuccess(id, 2);
          return fetch(target, init);
        },
      });
      // Cleanup as of a time when the first write had expired.
      expect(await racing.cleanup(new Date(Date.now() + 61_000))).toBe(0);
      expect(await rawEntry(url, taskKey(s, id))).not.toBeNull();
      await racing.close();
    });
  });

  describe("limits, options and lifecycle", () => {
    it("refuses a value over Consul's transaction cap before sending, storing nothing", async () => {
      const s = store();
      const backend = s.backend;
      const id = randomUUID();
      const huge = "x".repeat(600 * 1024);
      await expect(s.markSuccess(id, huge)).rejects.toThrow(ValueTooLargeError);
      // Past core's check too: the backend itself refuses what Consul would reject.
      await expect(
        backend.write({
          taskId: id,
          status: "SUCCESS",
          result: huge,
          resultJson: JSON.stringify(huge),
          traceback: null,
          dateDone: new Date(),
          updatedAt: new Date(),
          expiresAt: null,
        }),
      ).rejects.toThrow(ValueTooLargeError);
      expect(await rawEntry(url, taskKey(s, id))).toBeNull();
    });

    it("reads in every consistency mode", async () => {
      const writer = store();
      const id = randomUUID();
      await writer.markSuccess(id, 7);
      for (const consistency of ["default", "consistent", "stale"] as const) {
        const reader = new ResultStore(
          fromUrl(url, { prefix: consulOf(writer).keyPrefix, consistency }),
        );
        expect((await reader.getMeta(id)).result).toBe(7);
        await reader.close();
      }
    });

    it("sends the ACL token as X-Consul-Token, never in the URL", async () => {
      const seen: { url: string; token: string | undefined }[] = [];
      const s = new ResultStore(
        fromUrl(url, {
          namespace: `rs-test/${randomUUID()}`,
          token: "s3cret-token",
          fetch: (target, init) => {
            seen.push({ url: target, token: init.headers["X-Consul-Token"] });
            return fetch(target, init);
          },
        }),
      );
      opened.push(s);
      await s.markSuccess(randomUUID(), 1);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((r) => r.token === "s3cret-token" && !r.url.includes("s3cret"))).toBe(true);
    });

    it("reports an unreachable agent as a retryable connection error without the token", async () => {
      const backend = new ConsulBackend({
        host: "127.0.0.1",
        port: 1,
        token: "s3cret-token",
        requestTimeoutMs: 2000,
      });
      const error = await backend.read("x").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendConnectionError);
      expect(backend.isRetryable(error)).toBe(true);
      expect(String((error as Error).message)).not.toContain("s3cret");
      expect(backend.isRetryable(new Error("other"))).toBe(false);
      await backend.close();
    });

    it("refuses destroy() without a prefix, which would empty the whole KV store", async () => {
      const backend = fromUrl(url);
      await expect(backend.destroy()).rejects.toThrow(ConfigurationError);
      await backend.close();
    });

    it("close() is idempotent and later calls fail typed", async () => {
      const backend = fromUrl(url, { namespace: `rs-test/${randomUUID()}` });
      await backend.close();
      await backend.close();
      await expect(backend.read("x")).rejects.toThrow(StoreClosedError);
    });
  });
});
