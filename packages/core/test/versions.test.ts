import { describe, expect, it } from "vitest";
import { pendingRecord, VersionCache } from "../src/backend.js";

describe("VersionCache", () => {
  const record = (id: string) => ({ ...pendingRecord(id), result: { big: "x".repeat(100) } });

  it("keeps the last `capacity` versions, least recently used out first, without results", () => {
    const cache = new VersionCache<number>(2);
    cache.set("a", 1, record("a"));
    cache.set("b", 2, record("b"));
    expect(cache.get("a")?.version).toBe(1); // a is now the most recent
    cache.set("c", 3, record("c"));
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")?.record.result).toBeNull();
    expect(cache.get("c")?.version).toBe(3);
  });

  it("ignores a missing version, holds nothing at capacity 0, forgets on delete", () => {
    const cache = new VersionCache<string>(0);
    cache.set("a", "etag", record("a"));
    expect(cache.get("a")).toBeUndefined();
    const other = new VersionCache<string>(5);
    other.set("a", undefined, record("a"));
    expect(other.get("a")).toBeUndefined();
    other.set("b", "v", record("b"));
    other.delete("b");
    expect(other.get("b")).toBeUndefined();
  });

  it("shares nothing with its callers: what was set or got can change without changing it", () => {
    const cache = new VersionCache<number>(5);
    const stored = {
      ...record("a"),
      metadata: { tenant: "acme", nested: { k: [1] } },
      args: [1, { x: 1 }],
      kwargs: { a: { b: 1 } },
      children: [[["c", null], null]] as unknown[],
      dateDone: new Date(0),
    };
    cache.set("a", 1, stored);
    (stored.metadata.nested.k as number[]).push(2);
    stored.metadata.tenant = "changed";
    (stored.args[1] as { x: number }).x = 2;
    stored.kwargs.a.b = 2;
    stored.children.push("more");
    stored.dateDone.setTime(5);
    const got = cache.get("a")?.record as typeof stored;
    expect(got).toMatchObject({
      metadata: { tenant: "acme", nested: { k: [1] } },
      args: [1, { x: 1 }],
      kwargs: { a: { b: 1 } },
      children: [[["c", null], null]],
      dateDone: new Date(0),
    });
    got.metadata.nested.k.push(3);
    got.args.pop();
    expect(cache.get("a")?.record.metadata).toEqual({ tenant: "acme", nested: { k: [1] } });
    expect(cache.get("a")?.record.args).toEqual([1, { x: 1 }]);
  });
});
