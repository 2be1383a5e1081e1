// Cosmos-specific behaviour against the real server: layout, round trips, the ETag guard's
// recovery paths, provisioning, errors and the size limit.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Agent } from "node:https";
import { CosmosClient } from "@azure/cosmos";
import { loseOneAnswer } from "@resultstore/conformance";
import {
  BackendUnavailableError,
  ConfigurationError,
  IncrementOutcomeUnknownError,
  ResultStore,
} from "@resultstore/core";
import { afterAll, describe, it } from "vitest";
import { errors } from "../src/errors.js";
import { CosmosBackend, fromUrl } from "../src/index.js";
import { encodeTask, MAX_RECORD_BYTES } from "../src/records.js";
import {
  ca,
  namespace,
  openedBackends,
  rawContainer,
  readDocument,
  roundTrips,
  target,
} from "./helpers.js";

describe.skipIf(!target.url)(`cosmos backend ${target.reason}`, () => {
  const { open, opened } = openedBackends(afterAll);

  it("sets its container up again when it vanishes behind the store's back (a restarted emulator)", async () => {
    const store = new ResultStore(open());
    const before = randomUUID();
    await store.markSuccess(before, 1);
    await rawContainer(store.backend as CosmosBackend).delete();
    const after = randomUUID();
    assert.equal((await store.markSuccess(after, 2)).applied, true);
    assert.equal((await store.getMeta(after)).result, 2);
    assert.equal((await store.getMeta(before)).status, "PENDING"); // lost with the container
    assert.equal(await store.incr(`c-${after}`), 1);
    await rawContainer(store.backend as CosmosBackend).delete();
    const counts = await Promise.all([1, 2, 3].map(() => store.incr(`d-${after}`)));
    assert.deepEqual(
      counts.sort((a, b) => a - b),
      [1, 2, 3],
    );
  });

  it("stores Celery's document: id, value (meta JSON string), and our fields beside it", async () => {
    const b = open();
    const store = new ResultStore(b, { expires: 60 });
    const taskId = randomUUID();
    await store.markSuccess(taskId, { n: 1 }, { metadata: { tenant: "acme" } });
    const doc = await readDocument(b, `celery-task-meta-${taskId}`);
    assert.ok(doc);
    const value = JSON.parse(doc.value as string);
    assert.deepEqual(Object.keys(value), [
      "status",
      "result",
      "traceback",
      "children",
      "date_done",
      "task_id",
    ]);
    assert.deepEqual([value.status, value.result, value.task_id], ["SUCCESS", { n: 1 }, taskId]);
    assert.equal(doc.status, "SUCCESS");
    assert.deepEqual(doc.metadata, { tenant: "acme" });
    assert.ok(Math.abs((doc.expires_at as number) - (Date.now() + 60_000)) < 10_000);
    assert.ok((doc.ttl as number) >= 59 && (doc.ttl as number) <= 61, "Cosmos's own per-item TTL");
    const { resource: container } = await rawContainer(b).read();
    assert.deepEqual(container?.partitionKey?.paths, ["/id"]);
    assert.equal(container?.defaultTtl, -1, "TTL on, no default: items expire by their own ttl");
  });

  it("counts round trips: 1 per write in the common path, 1 per read, 1 per incr", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    const counts = {
      firstWrite: await roundTrips(() => store.markStarted(taskId)),
      followingWrite: await roundTrips(() => store.markSuccess(taskId, 1)),
      refusedWrite: await roundTrips(() => store.markStarted(taskId)),
      read: await roundTrips(() => store.getMeta(taskId)),
      newCounter: await roundTrips(() => store.incr(`c-${taskId}`)),
      incr: await roundTrips(() => store.incr(`c-${taskId}`)),
    };
    // Another process (no cached ETag) writing to an existing record: create 409, read, replace.
    const other = new ResultStore(
      fromUrl(target.url as string, { namespace: b.containerName.replace("celerycol_", ""), ca }),
    );
    const foreignWrite = await roundTrips(() =>
      other.markRetry(randomUUID(), new Error("x")).then(() => undefined),
    );
    const queued = randomUUID();
    await store.markQueued(queued);
    const crossProcessWrite = await roundTrips(() => other.markStarted(queued));
    await other.close();
    assert.deepEqual(
      { ...counts, foreignWrite, crossProcessWrite },
      {
        firstWrite: 1,
        followingWrite: 1,
        refusedWrite: 1,
        read: 1,
        newCounter: 2,
        incr: 1,
        foreignWrite: 1,
        crossProcessWrite: 3,
      },
    );
  });

  it("getMany is one query per 100 ids (plus its plan), and remembers versions for the next write", async () => {
    const b = open();
    const store = new ResultStore(b);
    const ids = Array.from({ length: 130 }, () => randomUUID());
    await Promise.all(ids.slice(0, 100).map((id) => store.markStarted(id)));
    const other = new ResultStore(
      fromUrl(target.url as string, { namespace: b.containerName.replace("celerycol_", ""), ca }),
    );
    let metas: Awaited<ReturnType<typeof store.getMany>> = [];
    const reads = await roundTrips(async () => {
      metas = await other.getMany(ids);
    });
    // Per 100 ids: the SDK's query-plan request, then the query itself (not 100 point reads).
    assert.equal(reads, 4);
    assert.deepEqual(
      metas.map((m) => m.status),
      ids.map((_, i) => (i < 100 ? "STARTED" : "PENDING")),
    );
    // The versions getMany saw: this process's next write of one is a single replace.
    assert.equal(await roundTrips(() => other.markSuccess(ids[0] as string, 1)), 1);
    await other.close();
  });

  it("merges onto a version written by someone else meanwhile (412, re-read, retry)", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    await store.markQueued(taskId, { metadata: { a: 1 } });
    // Another writer changes the document behind our cached ETag.
    const id = `celery-task-meta-${taskId}`;
    const doc = (await readDocument(b, id)) as Record<string, unknown>;
    await rawContainer(b)
      .item(id, id)
      .replace({ ...doc, metadata: { a: 1, external: true } });
    assert.equal((await store.markSuccess(taskId, "done", { metadata: { b: 2 } })).applied, true);
    assert.deepEqual((await store.getMeta(taskId)).metadata, { a: 1, external: true, b: 2 });
  });

  it("restarting an expired counter never replaces one someone else restarted meanwhile", async () => {
    // The race: our conditional incr fails (412: expired); before we re-read it, another client
    // restarts the counter and increments it again. What we read is then live, not expired, and
    // replacing it with `by` would lose both of their increments.
    const ns = namespace();
    const ours = open({ namespace: ns });
    const theirs = open({ namespace: ns });
    const key = `c-${randomUUID()}`;
    const soon = () => new Date(Date.now() + 1000);
    const later = () => new Date(Date.now() + 60_000);
    assert.equal(await ours.incr(key, 1, soon()), 1);
    await new Promise((r) => setTimeout(r, 2200)); // expired, also at whole-second granularity
    const guard = errors.guard;
    let interleaved = false;
    errors.guard = (async (label: string, call: () => Promise<unknown>) => {
      if (label.startsWith("read of counter") && !interleaved) {
        interleaved = true;
        assert.equal(await theirs.incr(key, 1, later()), 1); // their restart
        assert.equal(await theirs.incr(key, 1, later()), 2);
      }
      return guard.call(errors, label, call);
    }) as typeof errors.guard;
    try {
      assert.equal(await ours.incr(key, 1, later()), 3);
    } finally {
      errors.guard = guard;
    }
    assert.ok(interleaved, "the race was not reproduced");
    assert.equal(await theirs.incr(key, 0, later()), 3);
  });

  it("a stale cache never refuses: after a forget elsewhere, a late write applies", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    await store.markSuccess(taskId, 1);
    const id = `celery-task-meta-${taskId}`;
    await rawContainer(b).item(id, id).delete();
    assert.equal((await store.markStarted(taskId)).applied, true);
    assert.equal((await store.getMeta(taskId)).status, "STARTED");
  });

  it("reads documents Celery wrote (only id and value), with Cosmos's _ts + ttl as expiry", async () => {
    const b = open();
    const store = new ResultStore(b);
    await store.getMeta(randomUUID()); // provisions the container
    const [plain, withTtl] = [randomUUID(), randomUUID()];
    const value = (taskId: string) =>
      `{"status": "SUCCESS", "result": [1, 2], "traceback": null, "children": [], "date_done": "2024-05-01T12:00:00.123456+00:00", "task_id": "${taskId}"}`;
    await rawContainer(b).items.create({ id: `celery-task-meta-${plain}`, value: value(plain) });
    await rawContainer(b).items.create({
      id: `celery-task-meta-${withTtl}`,
      value: value(withTtl),
      ttl: 3600,
    });
    const record = await b.read(plain);
    assert.deepEqual(
      [record?.status, record?.result, record?.expiresAt, record?.metadata],
      ["SUCCESS", [1, 2], null, {}],
    );
    assert.equal(record?.dateDone?.toISOString(), "2024-05-01T12:00:00.123Z");
    const expiring = await b.read(withTtl);
    assert.ok(
      expiring?.expiresAt &&
        Math.abs(expiring.expiresAt.getTime() - (Date.now() + 3_600_000)) < 10_000,
    );
    // And our write merges onto Celery's record under the rules (SUCCESS is final).
    assert.equal((await store.markStarted(plain)).applied, false);
  });

  it("saves groups as Celery's {\"result\": tuple} and reads Celery's groups without date_done", async () => {
    const b = open();
    const store = new ResultStore(b);
    const [gid, celeryGid] = [randomUUID(), randomUUID()];
    await store.saveGroup(gid, ["t1", "t2"]);
    const doc = await readDocument(b, `celery-taskset-meta-${gid}`);
    assert.equal(
      doc?.value,
      `{"result": [["${gid}", null], [[["t1", null], null], [["t2", null], null]]]}`,
    );
    await rawContainer(b).items.create({
      id: `celery-taskset-meta-${celeryGid}`,
      value: `{"result": [["${celeryGid}", null], [[["x", null], null]]]}`,
    });
    const group = await store.restoreGroup(celeryGid);
    assert.deepEqual(group?.taskIds, ["x"]);
    assert.ok(
      group && Math.abs(group.dateDone.getTime() - Date.now()) < 60_000,
      "date_done falls back to _ts",
    );
  });

  it("provisions once under concurrent starts, and needs no create permission with provisioning: never", async () => {
    const ns = namespace("prov");
    const starters = Array.from({ length: 8 }, () =>
      fromUrl(target.url as string, { namespace: ns, ca }),
    );
    opened.push(...starters);
    await Promise.all(starters.map((s, i) => s.incr(`k-${i}`, 1, null)));
    const existing = fromUrl(target.url as string, { namespace: ns, ca, provisioning: "never" });
    opened.push(existing);
    assert.equal(await existing.incr("k-0", 1, null), 2);
    const missing = fromUrl(target.url as string, {
      namespace: namespace("absent"),
      ca,
      provisioning: "never",
    });
    await assert.rejects(missing.read("x"), ConfigurationError);
    await missing.close();
  });

  it("destroy() deletes the namespace's container", async () => {
    const b = fromUrl(target.url as string, { namespace: namespace(), ca });
    await b.incr("k", 1, null);
    await b.destroy();
    const { statusCode } = await rawContainer(b)
      .read()
      .catch((e: { code: number }) => ({ statusCode: e.code }));
    assert.equal(statusCode, 404);
    await b.close();
  });

  it("an unreachable server is a retryable BackendUnavailableError: nothing was sent", async () => {
    const b = fromUrl("cosmosdbsql://:a2V5@127.0.0.1:9", {
      namespace: namespace(),
      ca,
      maxRetryAttempts: 0,
    });
    const error = await b.read("x").catch((e: unknown) => e);
    assert.ok(error instanceof BackendUnavailableError, String(error));
    assert.equal(b.isRetryable(error), true);
    const store = new ResultStore(b);
    await assert.rejects(store.incr("c"), BackendUnavailableError);
    await assert.rejects(store.markSuccess("t", 1), BackendUnavailableError);
    await b.close();
  }, 60_000);

  it("an increment whose answer is lost may have counted: IncrementOutcomeUnknownError, not a retryable connection error", async () => {
    const direct = open();
    const ns = direct.containerName.slice("celerycol_".length);
    const store = new ResultStore(direct);
    await store.incr("c"); // the container exists and the counter is 1
    const server = new URL(target.url as string);
    // TLS hides the request from the proxy, and the local server closes each connection after one
    // answer, so every request opens a new one. Under TLS 1.2 only the request itself comes in an
    // application-data record (header 17 03 03) from the client; once armed, the proxy loses the
    // answer to the first one.
    let armed = false;
    const proxy = await loseOneAnswer(
      { host: server.hostname, port: Number(server.port) },
      { matches: (request) => armed && request.includes("\x17\x03\x03") },
    );
    // Endpoint discovery off: the server advertises its own address, which would bypass the proxy.
    const client = new CosmosClient({
      endpoint: `https://${proxy.address}`,
      key: decodeURIComponent(server.password),
      agent: new Agent({ ...(ca ? { ca } : {}), maxVersion: "TLSv1.2" }),
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    const proxied = new ResultStore(
      new CosmosBackend({ client, namespace: ns, closeClient: true }),
    );
    try {
      await proxied.getMeta("warm-up"); // the container is opened: the next request is the patch
      armed = true;
      const failed = await proxied.incr("c").catch((e: unknown) => e);
      assert.equal(proxy.lost(), 1);
      assert.ok(failed instanceof IncrementOutcomeUnknownError, String(failed));
      assert.equal(await store.incr("c"), 3, "the increment whose answer was lost had counted");
    } finally {
      await proxied.close();
      await proxy.stop();
    }
  });

  it("a set is a members object patched in one request, restarted when expired, deleted by cleanup", async () => {
    const b = open();
    const key = `s-${randomUUID()}`;
    const soon = () => new Date(Date.now() + 1000);
    const members = ["task-1", "it's ~ été/#?", "__proto__", "constructor", ""];
    let size = 0;
    for (const member of members) size = await b.addToSet(key, member, soon());
    assert.equal(size, members.length);
    assert.equal(await b.addToSet(key, "task-1", soon()), members.length);
    const doc = await readDocument(b, `resultstore-set-${key}`);
    assert.ok(doc && typeof doc.members === "object");
    assert.ok("mtask-1" in (doc.members as object), "a task id reads as itself");
    assert.equal(Object.keys(doc.members as object).length, members.length);
    assert.equal(await roundTrips(() => b.addToSet(key, "task-2", soon())), 1, "one patch per add");
    await new Promise((resolve) => setTimeout(resolve, 2200));
    // The local server never expires documents: an expired one is restarted by the next add.
    assert.equal(await b.addToSet(key, "task-1", new Date(Date.now() + 1000)), 1);
    await new Promise((resolve) => setTimeout(resolve, 2200));
    assert.equal(await b.cleanup(new Date()), 1);
    assert.equal(await readDocument(b, `resultstore-set-${key}`), null);
  });

  it("the worst-case escaping of a record at maxRecordBytes still fits Cosmos's 2 MB item limit", () => {
    const quotes = '"\\'.repeat(MAX_RECORD_BYTES / 4);
    const record = {
      taskId: "x".repeat(200),
      status: "SUCCESS",
      result: quotes,
      traceback: null,
      children: null,
      dateDone: new Date(),
      updatedAt: new Date(),
      groupId: null,
      parentId: null,
      name: null,
      args: null,
      kwargs: null,
      worker: null,
      retries: null,
      queue: null,
      metadata: {},
      expiresAt: new Date(),
    };
    const document = encodeTask(record, JSON.stringify(quotes));
    const systemProperties = 200; // _rid, _self, _etag, _ts, _attachments
    assert.ok(Buffer.byteLength(JSON.stringify(document)) + systemProperties < 2_000_000);
  });

  it("uses a caller-built client without disposing it", async () => {
    const client = new CosmosClient({
      endpoint: `https://${new URL(target.url as string).host}`,
      key: decodeURIComponent(new URL(target.url as string).password),
      ...(ca ? { agent: new Agent({ ca }) } : {}),
    });
    const b = new CosmosBackend({ client, namespace: namespace() });
    await b.incr("k", 1, null);
    await b.destroy();
    await b.close();
    await b.close();
    const { resources } = await client.databases.readAll().fetchAll();
    assert.ok(Array.isArray(resources), "the client still works after close()");
    client.dispose();
  });
});
