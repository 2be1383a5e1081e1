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

describe("celeryMessage trace headers", () => {
  const fields = { taskId: "t-2", name: "tasks.add", args: [], kwargs: {}, queue: "work" };
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  it("puts traceparent among the message headers, where Celery's request exposes it", () => {
    const { headers } = JSON.parse(
      celeryMessage({ ...fields, traceHeaders: { traceparent, tracestate: "k=v" } }),
    );
    expect(headers).toMatchObject({ id: "t-2", traceparent, tracestate: "k=v" });
  });

  it("never lets a propagator's field replace one of Celery's headers", () => {
    const { headers } = JSON.parse(
      celeryMessage({ ...fields, traceHeaders: { id: "x", task: "y" } }),
    );
    expect(headers).toMatchObject({ id: "t-2", task: "tasks.add" });
  });

  it("adds nothing without trace headers", () => {
    expect(celeryMessage(fields)).not.toContain("traceparent");
  });
});
