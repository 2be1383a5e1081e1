// Our message next to the one Celery's own client (app.send_task, kombu's Redis transport) puts on a
// real Redis for the same task: the same envelope, headers and body.
import { randomUUID } from "node:crypto";
import { celeryPeer, ensureCeleryEnv } from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { celeryMessage } from "../src/index.js";

const redis = serverTarget("REDIS");

describe.skipIf(!redis.url)(`the message matches Celery's own on Redis ${redis.reason}`, () => {
  let client: Redis;
  beforeAll(async () => {
    client = new Redis(redis.url as string);
    await ensureCeleryEnv({ log: (line) => console.error(`[celery-venv] ${line}`) });
  }, 600_000);
  afterAll(() => client?.quit());

  it("envelope, headers, properties and body agree with app.send_task", async () => {
    const task = {
      name: "tasks.add",
      args: [2, { a: "é", b: [1.5, null, true] }],
      kwargs: { k: "v" },
    };
    const theirs = { queue: `rs-py-${randomUUID()}`, id: `py-${randomUUID()}` };
    const ours = { queue: `rs-js-${randomUUID()}`, id: `js-${randomUUID()}` };
    await celeryPeer({
      url: "cache+memory://",
      broker: redis.url,
      ops: [{ op: "send_task", task_id: theirs.id, queue: theirs.queue, ...task }],
    });
    await client.lpush(ours.queue, celeryMessage({ taskId: ours.id, queue: ours.queue, ...task }));
    // Both on a list named after the queue (priority 0: no priority suffix), one message each.
    const [py, js] = await Promise.all(
      [theirs.queue, ours.queue].map(async (queue) => {
        expect(await client.llen(queue)).toBe(1);
        return JSON.parse((await client.lpop(queue)) as string);
      }),
    );
    await client.del(`_kombu.binding.${theirs.queue}`);

    expect(Object.keys(js)).toEqual(Object.keys(py));
    expect(Object.keys(js.headers)).toEqual(Object.keys(py.headers));
    expect(Object.keys(js.properties)).toEqual(Object.keys(py.properties));
    expect(js["content-type"]).toBe(py["content-type"]);
    expect(js["content-encoding"]).toBe(py["content-encoding"]);
    // The body is byte for byte Celery's (its JSON serializer's layout, ASCII escapes).
    expect(Buffer.from(js.body, "base64")).toEqual(Buffer.from(py.body, "base64"));

    const perTask = (h: Record<string, unknown>, id: string) => ({
      ...h,
      id: h.id === id ? "<id>" : h.id,
      root_id: h.root_id === id ? "<id>" : h.root_id,
      origin: typeof h.origin === "string" && h.origin.includes("@") ? "<node>@<host>" : h.origin,
      lang: "<lang>",
    });
    expect(perTask(js.headers, ours.id)).toEqual(perTask(py.headers, theirs.id));
    expect([py.headers.lang, js.headers.lang]).toEqual(["py", "js"]);

    const props = (p: Record<string, unknown>, id: string, queue: string) => ({
      ...p,
      correlation_id: p.correlation_id === id ? "<id>" : p.correlation_id,
      delivery_info: JSON.stringify(p.delivery_info).replace(queue, "<queue>"),
      delivery_tag:
        typeof p.delivery_tag === "string" && p.delivery_tag.length === 36
          ? "<uuid>"
          : p.delivery_tag,
      reply_to: "<reply_to>",
    });
    expect(props(js.properties, ours.id, ours.queue)).toEqual(
      props(py.properties, theirs.id, theirs.queue),
    );
  });
});
