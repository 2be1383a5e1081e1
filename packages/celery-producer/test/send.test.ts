// sendTask on a real Redis: the record first, then the message; nothing left behind when either fails.
import { randomUUID } from "node:crypto";
import { serverTarget } from "@resultstore/conformance";
import {
  createStore,
  EncodeError,
  InvalidMetadataError,
  type ResultStore,
} from "@resultstore/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendTask } from "../src/index.js";

const redis = serverTarget("REDIS");

describe.skipIf(!redis.url)(`sendTask on Redis ${redis.reason}`, () => {
  let broker: Redis;
  let store: ResultStore;
  const queue = `rs-send-${randomUUID()}`;
  beforeAll(async () => {
    broker = new Redis(redis.url as string);
    store = await createStore("memory://");
  });
  afterAll(async () => {
    await broker?.del(queue);
    await broker?.quit();
    await store?.close();
  });

  it("records QUEUED with metadata and the request, then pushes the message for the same id", async () => {
    const taskId = await sendTask(store, broker, "reports.render", {
      args: ["q3"],
      kwargs: { pages: 3 },
      queue,
      metadata: { tenant: "acme" },
    });
    expect(await store.getMeta(taskId)).toMatchObject({
      status: "QUEUED",
      metadata: { tenant: "acme" },
      name: "reports.render",
      args: ["q3"],
      kwargs: { pages: 3 },
      queue,
    });
    const message = JSON.parse((await broker.rpop(queue)) as string);
    expect(message.headers).toMatchObject({ id: taskId, task: "reports.render" });
  });

  it("a closed broker connection: rejects, and the record it wrote is gone again", async () => {
    const closed = new Redis(redis.url as string, { lazyConnect: true, enableOfflineQueue: false });
    const taskId = randomUUID();
    await expect(
      sendTask(store, closed, "x", { taskId, queue, metadata: { tenant: "acme" } }),
    ).rejects.toThrow();
    expect((await store.getMeta(taskId)).status).toBe("PENDING");
    closed.disconnect();
  });

  it("bad input is refused before anything is written or published", async () => {
    const before = await broker.llen(queue);
    const taskId = randomUUID();
    await expect(sendTask(store, broker, "x", { taskId, queue, args: [() => 1] })).rejects.toThrow(
      EncodeError,
    );
    await expect(
      sendTask(store, broker, "x", { taskId, queue, metadata: { $set: 1 } }),
    ).rejects.toThrow(InvalidMetadataError);
    expect((await store.getMeta(taskId)).status).toBe("PENDING");
    expect(await broker.llen(queue)).toBe(before);
  });
});
