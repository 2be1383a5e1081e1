import assert from "node:assert/strict";
import { EncodeError, InvalidIdError, InvalidMetadataError } from "@resultstore/core";
import { assertPersisted, defineGroup, id } from "./context.js";

/** Bad ids, metadata and oversize results are refused with typed errors and change nothing. */
export const badInputTests = defineGroup("badInput", (ctx, api, options) => {
  const t = options.timeoutMs;
  const badIds = ["", " ", "a/b", "x\u0000y", "line\nbreak", "q?x", "h#x", "..", "x".repeat(201)];
  api.it(
    "malformed ids get InvalidIdError from every entry point",
    async () => {
      for (const bad of badIds) {
        await assert.rejects(ctx.store().markSuccess(bad, 1), InvalidIdError, JSON.stringify(bad));
        await assert.rejects(ctx.store().getMeta(bad), InvalidIdError);
        await assert.rejects(ctx.store().incr(bad), InvalidIdError);
        await assert.rejects(ctx.store().saveGroup(bad, []), InvalidIdError);
      }
    },
    t,
  );
  const hostile: [string, Record<string, unknown>][] = [
    ["$where", { $where: "sleep(1000)" }],
    ["a.b", { "a.b": 1 }],
    ["__proto__", JSON.parse('{"__proto__": {"polluted": true}}')],
    ["nested $gt", { filter: { $gt: "" } }],
    ["constructor", { constructor: 1 }],
  ];
  for (const [label, metadata] of hostile) {
    api.it(
      `metadata key ${label} is refused and nothing changes`,
      async () => {
        const taskId = id();
        await ctx.store().markQueued(taskId, { metadata: { safe: 1 } });
        await assert.rejects(
          ctx.store().markSuccess(taskId, 1, { metadata }),
          InvalidMetadataError,
        );
        await assertPersisted(ctx, taskId, { status: "QUEUED", metadata: { safe: 1 } });
        assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
      },
      t,
    );
  }
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const unencodable: [string, unknown][] = [
    ["a circular object", circular],
    ["a function", () => 1],
    ["a symbol", Symbol("s")],
    ["a Map", new Map([[1, 2]])],
    [
      "a class instance",
      new (class Widget {
        x = 1;
      })(),
    ],
    ["an object shaped like a kombu marker", { __type__: "datetime", __value__: "x" }],
  ];
  for (const [label, value] of unencodable) {
    api.it(
      `${label} as a result gets EncodeError and nothing is stored`,
      async () => {
        const taskId = id();
        await assert.rejects(ctx.store().markSuccess(taskId, value), EncodeError);
        await assertPersisted(ctx, taskId, null);
      },
      t,
    );
  }
  api.it(
    "unencodable metadata gets EncodeError and the stored record is unchanged",
    async () => {
      const taskId = id();
      await ctx.store().markQueued(taskId, { metadata: { safe: 1 } });
      await assert.rejects(
        ctx.store().markStarted(taskId, undefined, { metadata: { bad: circular } }),
        EncodeError,
      );
      await assertPersisted(ctx, taskId, { status: "QUEUED", metadata: { safe: 1 } });
    },
    t,
  );
  api.it(
    "a lower-case or empty state name is refused",
    async () => {
      await assert.rejects(ctx.store().storeResult(id(), 1, "success"));
      await assert.rejects(ctx.store().storeResult(id(), 1, ""));
    },
    t,
  );
});
