/**
 * Celery interop both ways, through Celery's own Consul backend (Python peer) on the same agent:
 * the shared scenarios of celeryInteropSuite, find over Celery's records, then where Celery's
 * Consul backend drops writes.
 */
import { randomUUID } from "node:crypto";
import { celeryInteropSuite } from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consulOf, newStore, rawEntry } from "./helpers.js";

const target = serverTarget("CONSUL");

describe.skipIf(!target.url)(`consul interop with Celery ${target.reason}`, () => {
  const url = target.url as string;
  const celery = celeryInteropSuite(
    { describe, it, expect, beforeAll, afterAll },
    {
      name: "consul",
      // Celery's URL for the same keys: the store's prefix as the URL path.
      celeryUrl: (store) => `${url}/${consulOf(store).keyPrefix.replace(/\/$/, "")}`,
      createStore: async () => newStore(url),
    },
  );
  const celeryStatus = async (taskId: string) => (await celery.read(taskId)).status;

  it("finds the records Celery's own backend wrote by state, name and date_done", async () => {
    const [done, started] = [randomUUID(), randomUUID()];
    const request = { name: `tasks.${randomUUID()}` };
    await celery.peer(
      [
        { op: "store", task_id: done, state: "SUCCESS", result: 1, request },
        { op: "store", task_id: started, state: "STARTED", result: null, request },
      ],
      { settings: { result_extended: true } },
    );
    const store = celery.store();
    const found = async (filter: Parameters<typeof store.find>[0]) =>
      (await store.find(filter)).tasks.map((task) => task.taskId);
    // STARTED has no date_done, so no time: it sorts as the oldest and never matches after.
    expect(await found({ name: request.name })).toEqual([done, started]);
    expect(await found({ name: request.name, state: "STARTED" })).toEqual([started]);
    const since = new Date(Date.now() - 600_000);
    expect(await found({ name: request.name, after: since })).toEqual([done]);
    expect(await store.countByState({ name: request.name })).toMatchObject({
      SUCCESS: 1,
      STARTED: 1,
    });
  });

  describe("where Celery's own Consul backend drops writes, and we don't", () => {
    it("Celery drops its own second write to a key (a new session cannot acquire it)", async () => {
      const id = randomUUID();
      const [, second] = await celery.peer([
        { op: "store", task_id: id, state: "STARTED", result: null },
        { op: "store", task_id: id, state: "SUCCESS", result: 1 },
      ]);
      expect(second).not.toHaveProperty("error"); // no error: Celery ignores kv.put's false
      expect(await celeryStatus(id)).toBe("STARTED");
      // We write over the key Celery's session holds: the lock moves to our session, nothing lost.
      expect((await celery.store().markSuccess(id, 1)).applied).toBe(true);
      expect(await celeryStatus(id)).toBe("SUCCESS");
    });

    it("Celery's write to a key our session holds is dropped too, unless sessionExpiry is off", async () => {
      const store = celery.store();
      const held = randomUUID();
      await store.markQueued(held);
      await celery.peer([{ op: "store", task_id: held, state: "SUCCESS", result: 1 }]);
      expect(await celeryStatus(held)).toBe("QUEUED");

      const unlocked = newStore(
        url,
        {},
        { sessionExpiry: false, prefix: consulOf(store).keyPrefix, namespace: undefined },
      );
      const free = randomUUID();
      await unlocked.markQueued(free, { metadata: { m: 1 } });
      expect(
        (await rawEntry(url, `${consulOf(store).keyPrefix}celery-task-meta-${free}`))?.session,
      ).toBeNull();
      await celery.peer([{ op: "store", task_id: free, state: "SUCCESS", result: 1 }]);
      expect(await celeryStatus(free)).toBe("SUCCESS");
      await unlocked.close();
    });
  });
});
