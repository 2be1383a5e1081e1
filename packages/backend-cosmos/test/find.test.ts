// find and countByState on the real server, beyond the conformance suite: the composite indexes
// provisioning creates (or leaves to the operator), documents in Celery's own layout found by
// state, name and time among ours, and bad queries that never reach the server.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { BackendError, InvalidQueryError, ResultStore, type TaskFilter } from "@resultstore/core";
import { afterAll, describe, it } from "vitest";
import { type CosmosBackend, fromUrl } from "../src/index.js";
import { ca, openedBackends, rawContainer, rawCosmos, roundTrips, target } from "./helpers.js";

/** The composite indexes README "Finding tasks" lists, as the container reports them. */
const FIND_INDEXES = ["ascending", "descending"].flatMap((order) => [
  [`/updated_at ${order}`, `/id ${order}`],
  [`/status ${order}`, `/updated_at ${order}`, `/id ${order}`],
]);

async function compositeIndexes(b: CosmosBackend): Promise<string[][]> {
  const { resource } = await rawContainer(b).read();
  return (resource?.indexingPolicy?.compositeIndexes ?? []).map((index) =>
    index.map(({ path, order }) => `${path} ${order ?? "ascending"}`),
  );
}

/** Creates the store's container as an operator (or Celery) would: partition key /id, nothing else. */
async function createBareContainer(b: CosmosBackend): Promise<void> {
  const { database } = await rawCosmos().databases.createIfNotExists({ id: b.databaseName });
  await database.containers.create({ id: b.containerName, partitionKey: { paths: ["/id"] } });
}

/** A document as Celery's own cosmosdbsql backend writes it (result_extended): id and value only. */
function celeryDocument(taskId: string, status: string, name: string, dateDone: Date | null) {
  const done = dateDone ? `"${dateDone.toISOString().replace("Z", "000+00:00")}"` : "null";
  return {
    id: `celery-task-meta-${taskId}`,
    value: `{"status": "${status}", "result": null, "traceback": null, "children": [], "date_done": ${done}, "name": "${name}", "args": [], "kwargs": {}, "worker": "celery@h", "retries": 0, "queue": "celery", "task_id": "${taskId}"}`,
  };
}

describe.skipIf(!target.url)(`cosmos find ${target.reason}`, () => {
  const { open, opened } = openedBackends(afterAll);

  it("provisioning creates the composite indexes with the container, and leaves an existing container as it is", async () => {
    const fresh = open();
    await fresh.read("warm-up");
    assert.deepEqual(await compositeIndexes(fresh), FIND_INDEXES);
    const store = new ResultStore(fresh);
    await store.markSuccess(randomUUID(), 1);
    assert.equal((await store.find({ state: "SUCCESS" })).tasks.length, 1);
    const celerys = open();
    await createBareContainer(celerys);
    const kept = randomUUID();
    await rawContainer(celerys).items.create(celeryDocument(kept, "SUCCESS", "t", new Date()));
    const onIt = new ResultStore(celerys);
    assert.equal((await onIt.getMeta(kept)).status, "SUCCESS");
    assert.deepEqual(await compositeIndexes(celerys), [], "an existing container is not replaced");
    await assert.rejects(onIt.find({}), BackendError);
    assert.deepEqual(nonZero(await onIt.countByState()), { SUCCESS: 1 });
  });

  it('provisioning "never" leaves the indexes to the operator: find says which are missing', async () => {
    const b = open({ provisioning: "never" });
    await createBareContainer(b);
    const store = new ResultStore(b);
    await store.markSuccess(randomUUID(), 1);
    assert.deepEqual(await compositeIndexes(b), []);
    await assert.rejects(store.find({}), (error: Error) => {
      assert.ok(error instanceof BackendError, String(error));
      assert.match(error.message, /composite indexes/);
      return true;
    });
    await assert.rejects(store.find({ state: "SUCCESS" }), BackendError);
    // The query without ORDER BY needs no composite index.
    assert.deepEqual(nonZero(await store.countByState()), { SUCCESS: 1 });
  });

  it("finds documents in Celery's own layout by state, name and time, ordered among ours", async () => {
    const b = open();
    const store = new ResultStore(b);
    const name = `tasks.find-${randomUUID()}`;
    const [celeryDone, celeryRunning, ours] = [randomUUID(), randomUUID(), randomUUID()];
    const since = new Date(Date.now() - 60_000);
    await store.getMeta("warm-up"); // provisions the container
    await rawContainer(b).items.create(celeryDocument(celeryDone, "SUCCESS", name, new Date()));
    await rawContainer(b).items.create(celeryDocument(celeryRunning, "STARTED", name, null));
    // Another name mentioned inside a Celery document's text is not its name.
    const decoy = randomUUID();
    const decoyDoc = celeryDocument(decoy, "SUCCESS", "tasks.other", new Date());
    decoyDoc.value = decoyDoc.value.replace('"result": null', `"result": {"name": "${name}"}`);
    await rawContainer(b).items.create(decoyDoc);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await store.markQueued(ours, { name });
    await store.markSuccess(ours, 1);
    const ids = async (filter: TaskFilter, order: "newest" | "oldest" = "newest") => {
      const found: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.find(filter, { limit: 1, order, ...(cursor && { cursor }) });
        found.push(...page.tasks.map((task) => task.taskId));
        cursor = page.cursor ?? undefined;
      } while (cursor);
      return found;
    };
    // STARTED has no date_done: no time, the oldest.
    assert.deepEqual(await ids({ name }), [ours, celeryDone, celeryRunning]);
    assert.deepEqual(await ids({ name }, "oldest"), [celeryRunning, celeryDone, ours]);
    assert.deepEqual(await ids({ name, state: "SUCCESS" }), [ours, celeryDone]);
    assert.deepEqual(await ids({ name, state: ["STARTED", "FAILURE"] }), [celeryRunning]);
    assert.deepEqual(await ids({ name, after: since }), [ours, celeryDone]);
    assert.deepEqual(nonZero(await store.countByState({ name })), { SUCCESS: 2, STARTED: 1 });
    const [found] = (await store.find({ state: "STARTED", name })).tasks;
    assert.equal(found?.updatedAt, null);
    assert.equal(found?.name, name);
  });

  it("a metadata filter reads no document of Celery's layout, which has no metadata: one query", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    await store.markSuccess(taskId, 1, { metadata: { team: "a" } });
    await rawContainer(b).items.create(celeryDocument(randomUUID(), "SUCCESS", "t", new Date()));
    const all = await roundTrips(() => store.find({ state: "SUCCESS" }));
    let found: string[] = [];
    const filtered = await roundTrips(async () => {
      found = (await store.find({ state: "SUCCESS", metadata: { team: "a" } })).tasks.map(
        (task) => task.taskId,
      );
    });
    assert.deepEqual(found, [taskId]);
    // Without metadata: our query and the scan of Celery's layout, each its plan and its page.
    assert.ok(filtered < all, `${filtered} requests with metadata, ${all} without`);
    assert.deepEqual(nonZero(await store.countByState({ metadata: { team: "a" } })), {
      SUCCESS: 1,
    });
  });

  it("a bad query is refused before any request; odd metadata keys stay parameters", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    const key = `k"] = 1 OR c["x`; // allowed by core; it must never become query text
    await store.markSuccess(taskId, 1, { metadata: { [key]: "v", plain: 1 } });
    const bad: (() => Promise<unknown>)[] = [
      () => store.find({ state: "succeeded" }),
      () => store.find({ metadata: { a: { $ne: 1 } as never } }),
      () => store.find({}, { limit: 0 }),
      () => store.countByState({ state: "SUCCESS" } as never),
    ];
    for (const call of bad) {
      const sent = await roundTrips(() =>
        assert.rejects(call(), (error) => error instanceof InvalidQueryError),
      );
      assert.equal(sent, 0, "nothing reached the server");
    }
    const found = await store.find({ metadata: { [key]: "v" } });
    assert.deepEqual(
      found.tasks.map((task) => task.taskId),
      [taskId],
    );
    assert.equal((await store.find({ metadata: { [key]: 1 } })).tasks.length, 0);
  });

  it("keeps updatedAt in updated_at (epoch ms) and name beside value; a store on the same container reads them", async () => {
    const b = open();
    const store = new ResultStore(b);
    const taskId = randomUUID();
    await store.markQueued(taskId, { name: "tasks.kept" });
    const { resource } = await rawContainer(b)
      .item(`celery-task-meta-${taskId}`, `celery-task-meta-${taskId}`)
      .read();
    assert.equal(typeof resource?.updated_at, "number");
    assert.equal(resource?.name, "tasks.kept");
    const other = fromUrl(target.url as string, {
      databaseName: b.databaseName,
      containerName: b.containerName,
      ...(ca ? { ca } : {}),
    });
    opened.push(other);
    assert.equal((await other.read(taskId))?.updatedAt?.getTime(), resource?.updated_at);
  });
});

/** The states `countByState` counted some of (core lists every known state, 0 included). */
function nonZero(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}
