// Interop both ways with Celery's own cosmosdbsql backend (Python, through @resultstore/celery-interop):
// the shared scenarios of celeryInteropSuite, then Celery's 409 on its own second write.
import { randomUUID } from "node:crypto";
import { celeryInteropSuite, type ReadResult } from "@resultstore/celery-interop";
import { ResultStore } from "@resultstore/core";
import { parseCeleryDate } from "@resultstore/core/backend";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CosmosBackend } from "../src/index.js";
import { backend, readDocument, target } from "./helpers.js";

describe.skipIf(!target.url)(`cosmos interop with Celery ${target.reason}`, () => {
  let cosmos: CosmosBackend;
  const celery = celeryInteropSuite(
    { describe, it, expect, beforeAll, afterAll },
    {
      name: "cosmos",
      celeryUrl: target.url as string,
      // Celery's settings pointing at this test's container (database celerydb, Celery's default).
      settings: () => ({ cosmosdbsql_collection_name: cosmos.containerName }),
      createStore: async () => {
        cosmos = backend();
        return new ResultStore(cosmos);
      },
      checkCeleryRecord: async ({ taskId, meta }) => {
        const raw = await readDocument(cosmos, `celery-task-meta-${taskId}`);
        const stored = parseCeleryDate(JSON.parse(raw?.value as string).date_done);
        expect(meta.dateDone?.getTime(), "date_done as Celery stored it").toBe(stored?.getTime());
      },
      checkOurRecord: async ({ peer, taskId }) => {
        // The document is Celery's shape: `value` holds the meta JSON string, keys in Celery's order.
        const [raw] = (await peer([{ op: "raw", task_id: taskId }])) as unknown as [
          { document: Record<string, unknown> },
        ];
        expect(raw.document.id).toBe(`celery-task-meta-${taskId}`);
        expect(Object.keys(JSON.parse(raw.document.value as string))).toEqual([
          "status",
          "result",
          "traceback",
          "children",
          "date_done",
          "name",
          "args",
          "kwargs",
          "worker",
          "retries",
          "queue",
          "task_id",
        ]);
        expect(raw.document.metadata, "our metadata sits beside value").toEqual({ tenant: "acme" });
      },
    },
  );

  it("Celery's backend creates documents, so its second write to a task fails with 409; ours applies", async () => {
    const taskId = randomUUID();
    const [, second, read] = await celery.peer(
      [
        { op: "store", task_id: taskId, state: "STARTED", result: { pid: 1, hostname: "h" } },
        { op: "store", task_id: taskId, state: "SUCCESS", result: 1 },
        { op: "read", task_id: taskId },
      ],
      { allowErrors: true },
    );
    expect(
      (second as { error?: { status_code?: number } }).error?.status_code,
      "Celery's CreateDocument conflicts on the second write",
    ).toBe(409);
    expect((read as unknown as ReadResult).status).toBe("STARTED");
    // Our store finishes what Celery started, under the state rules.
    expect((await celery.store().markSuccess(taskId, 1)).applied).toBe(true);
    expect((await celery.read(taskId)).status).toBe("SUCCESS");
  }, 240_000);

  it("records Celery's own backend wrote are found by state, name and date_done, and counted", async () => {
    const name = `tasks.find-${randomUUID()}`;
    const [done, running] = [randomUUID(), randomUUID()];
    const since = new Date(Date.now() - 1000);
    // A container of ours (with find's indexes): the suite's may be the one Celery created.
    const ours = backend();
    const store = new ResultStore(ours);
    await store.getMeta("warm-up");
    await celery.peer(
      [
        { op: "store", task_id: done, state: "SUCCESS", result: 1, request: { name } },
        { op: "store", task_id: running, state: "STARTED", result: null, request: { name } },
      ],
      { settings: { result_extended: true, cosmosdbsql_collection_name: ours.containerName } },
    );
    const ids = async (filter: Parameters<typeof store.find>[0]) =>
      (await store.find(filter)).tasks.map((task) => task.taskId);
    expect(await ids({ name })).toEqual([done, running]); // STARTED has no time: the oldest
    expect(await ids({ name, state: "SUCCESS" })).toEqual([done]);
    expect(await ids({ name, state: "STARTED" })).toEqual([running]);
    expect(await ids({ name, after: since })).toEqual([done]);
    expect(await store.countByState({ name })).toMatchObject({ SUCCESS: 1, STARTED: 1 });
    const [found] = (await store.find({ name }, { limit: 1 })).tasks;
    expect(found).toMatchObject({ taskId: done, name, updatedAt: null });
    await ours.destroy();
    await store.close();
  }, 240_000);
});
