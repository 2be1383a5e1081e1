// Celery interop both ways, through Celery's own DynamoDB backend (Python, @resultstore/celery-interop)
// on the same table: the shared scenarios of celeryInteropSuite, then DynamoDB's key spelling.
import { randomUUID } from "node:crypto";
import { celeryInteropSuite, NESTED, type ReadResult } from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromUrl } from "../src/index.js";
import { celeryTaskKey, freshNamespace } from "./helpers.js";

const target = serverTarget("DYNAMODB");

/** What the peer's "raw" op returns for DynamoDB: the item with its typed values. */
interface RawItem {
  table: string;
  item: { id: { S: string }; result: { B: string }; timestamp: { N: string } };
}

describe.skipIf(!target.url)(`dynamodb interop with Celery ${target.reason}`, () => {
  // One table shared by both sides: Celery's URL names it in the path, as users configure it.
  const table = `interop_${freshNamespace()}`;
  const url = `${(target.url as string).replace(/\/+$/, "")}/${table}`;
  const celery = celeryInteropSuite(
    { describe, it, expect, beforeAll, afterAll },
    {
      name: "dynamodb",
      celeryUrl: url,
      createStore: async () => new ResultStore(fromUrl(url)),
      // Creates the table (on-demand, TTL on) before Celery touches it.
      prepare: async (store) => {
        await store.getMeta("warm-up");
      },
      // Celery sees the latest write's blob; the fields markQueued carried live in attributes.
      queuedFieldsInCeleryMeta: false,
      checkOurRecord: async ({ peer, taskId }) => {
        const theirs = randomUUID();
        const [raw, , theirRaw] = (await peer([
          { op: "raw", task_id: taskId },
          { op: "store", task_id: theirs, state: "SUCCESS", result: NESTED },
          { op: "raw", task_id: theirs },
        ])) as unknown as [RawItem, unknown, RawItem];
        // Same key spelling, and the blob has Celery's keys in Celery's order.
        expect(raw.item.id.S).toBe(celeryTaskKey(taskId));
        expect(Object.keys(JSON.parse(raw.item.result.B))).toEqual(
          Object.keys(JSON.parse(theirRaw.item.result.B)),
        );
        expect(raw.item.timestamp.N).toEqual(expect.stringMatching(/^\d+(\.\d+)?$/));
      },
    },
  );

  it("ids with quotes and non-ASCII characters address the same item as Celery", async () => {
    const taskIds = [
      `it's-${randomUUID()}`,
      `quote"both'-${randomUUID()}`,
      `héllo-✓-${randomUUID()}`,
    ];
    for (const taskId of taskIds) await celery.store().markSuccess(taskId, taskId);
    const reads = (await celery.peer(
      taskIds.map((task_id) => ({ op: "read" as const, task_id })),
    )) as unknown as ReadResult[];
    expect(reads.map((r) => r.result)).toEqual(taskIds);
  });
});
