import { describe, expect, it } from "vitest";
import { pendingRecord, VersionCache } from "../src/index.js";

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
});
