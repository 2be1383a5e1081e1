// Celery's own Cassandra backend (Python, through @resultstore/celery-interop) and ours on one
// table, both ways: the shared scenarios of celeryInteropSuite, then what only Cassandra does.
import { randomUUID } from "node:crypto";
import { celeryInteropSuite } from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromUrl } from "../src/index.js";
import { dropKeyspace, KEYSPACE, rawClient } from "./helpers.js";

const target = serverTarget("CASSANDRA");

describe.skipIf(!target.url)(`cassandra interop with Celery ${target.reason}`, () => {
  const url = target.url as string;
  // Celery creates this table itself (plain CREATE TABLE, no static columns); ours adds its columns.
  const table = `celery_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const celery = celeryInteropSuite(
    { describe, it, expect, beforeAll, afterAll },
    {
      name: "cassandra",
      celeryUrl: url,
      settings: {
        cassandra_keyspace: KEYSPACE,
        cassandra_table: table,
        cassandra_entry_ttl: 86_400,
      },
      createStore: async () => {
        await rawClient(url);
        return new ResultStore(fromUrl(url, { keyspace: KEYSPACE, table }));
      },
      destroy: async (store) => {
        await store.close();
        await dropKeyspace();
      },
      // Fixed columns: no name/args/…, group_id or parent_id; get_task_meta gives a datetime.
      extended: "none",
      celeryDateDoneType: "datetime",
      // Celery's CassandraBackend has no _save_group (AttributeError).
      groups: false,
      checkCeleryRecord: async ({ store, taskId }) => {
        // Celery's rows carry USING TTL cassandra_entry_ttl; without our column the expiry comes from it.
        const record = await store.backend.read(taskId);
        expect(
          Math.abs((record?.expiresAt?.getTime() ?? 0) - (Date.now() + 86_400_000)),
        ).toBeLessThan(60_000);
      },
      checkOurRecord: async ({ peer, taskId }) => {
        // One row per task: each write replaced the row before it, and its TTL is Celery's kind.
        const [raw] = (await peer([{ op: "raw", task_id: taskId }])) as unknown as [
          { rows: { status: string; result: unknown }[] },
        ];
        expect(raw.rows.map((row) => row.status)).toEqual(["SUCCESS"]);
      },
    },
  );

  it("a late Celery write after ours wins on Celery's read and ours (newest row), metadata kept", async () => {
    const store = celery.store();
    const taskId = randomUUID();
    await store.markQueued(taskId, { metadata: { tenant: "acme" } });
    await celery.peer([{ op: "store", task_id: taskId, state: "SUCCESS", result: 5 }]);
    const meta = await store.getMeta(taskId);
    expect(meta.status).toBe("SUCCESS");
    expect(meta.result).toBe(5);
    expect(meta.metadata).toEqual({ tenant: "acme" });
    // …and our state rules see Celery's SUCCESS: a late STARTED is refused.
    expect((await store.markStarted(taskId)).applied).toBe(false);
  });

  it("find: Celery's own records by their newest state and date_done, and ours Celery wrote over by Celery's state", async () => {
    const store = celery.store();
    const theirs = randomUUID();
    const ours = randomUUID();
    // Celery inserts a row per state: STARTED stays in the partition under the SUCCESS row.
    await celery.peer([
      { op: "store", task_id: theirs, state: "STARTED", result: null },
      { op: "store", task_id: theirs, state: "SUCCESS", result: 5 },
    ]);
    await store.markQueued(ours, { metadata: { tenant: "acme" } });
    await celery.peer([{ op: "store", task_id: ours, state: "FAILURE", result: null }]);
    const found = async (state: string) =>
      (await store.find({ state: state as "SUCCESS" }, { limit: 1000 })).tasks.map((t) => t.taskId);
    expect(await found("SUCCESS")).toContain(theirs);
    expect(await found("STARTED")).not.toContain(theirs);
    expect(await found("FAILURE")).toContain(ours);
    expect(await found("QUEUED")).not.toContain(ours);
    const [record] = (await store.find({ state: "FAILURE" }, { limit: 1000 })).tasks.filter(
      (task) => task.taskId === ours,
    );
    // Celery's write is the record's last: its date_done is the time, not our QUEUED write's.
    expect(record?.updatedAt).toBeNull();
    expect(record?.dateDone).toBeInstanceOf(Date);
  });
});
