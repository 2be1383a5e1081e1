// The message's shape without a broker: what kombu's Redis transport would LPUSH.
import { describe, expect, it } from "vitest";
import { celeryMessage, pyRepr } from "../../src/index.js";

describe("pyRepr (argsrepr/kwargsrepr)", () => {
  it.each([
    [null, "None"],
    [true, "True"],
    [[1, 2.5, "x"], "[1, 2.5, 'x']"],
    [{ a: "é", b: [null, false] }, "{'a': 'é', 'b': [None, False]}"],
    ["it's", `"it's"`],
    [`both ' and "`, `'both \\' and "'`],
    ["tab\there\n", "'tab\\there\\n'"],
    ["\u0001", "'\\x01'"],
  ])("%j → %s", (value, repr) => {
    expect(pyRepr(value)).toBe(repr);
  });
});

describe("celeryMessage", () => {
  const text = celeryMessage({
    taskId: "t-1",
    name: "tasks.add",
    args: [2, { a: "é" }],
    kwargs: { k: 1 },
    queue: "work",
    eta: new Date("2024-05-01T12:00:00.250Z"),
  });
  const message = JSON.parse(text);

  it("is kombu's envelope, with the protocol-2 body base64-encoded", () => {
    expect(Object.keys(message)).toEqual([
      "body",
      "content-encoding",
      "content-type",
      "headers",
      "properties",
    ]);
    expect(Buffer.from(message.body, "base64").toString("utf8")).toBe(
      '[[2, {"a": "\\u00e9"}], {"k": 1}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
    );
    expect(message.properties).toMatchObject({
      correlation_id: "t-1",
      delivery_mode: 2,
      delivery_info: { exchange: "", routing_key: "work" },
      priority: 0,
      body_encoding: "base64",
    });
    expect(message.properties.delivery_tag).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("carries the task in Celery's headers", () => {
    expect(message.headers).toMatchObject({
      task: "tasks.add",
      id: "t-1",
      root_id: "t-1",
      eta: "2024-05-01T12:00:00.250000+00:00",
      argsrepr: "[2, {'a': 'é'}]",
      kwargsrepr: "{'k': 1}",
      retries: 0,
    });
  });

  it("is ASCII-only JSON in Python's layout, as kombu writes it", () => {
    expect(text).toMatch(/^[\x20-\x7e]*$/);
    expect(text.startsWith('{"body": "')).toBe(true);
  });
});
