import { describe, expect, it } from "vitest";
import { ConfigurationError, createStore, MemoryBackend, ResultStore } from "../src/index.js";

/** What the memory backend holds for `taskId`: its expiry, in seconds from `since`. */
async function storedLifetime(store: ResultStore, taskId: string, since: number) {
  const record = await store.backend.read(taskId);
  const at = record?.expiresAt;
  return at ? Math.round((at.getTime() - since) / 1000) : at;
}

describe("expires by state", () => {
  it("gives each write the lifetime of the state it writes; others, groups and counters use default", async () => {
    const store = await createStore({
      expires: { SUCCESS: 60, FAILURE: 3600, PROGRESS: null, default: 600 },
    });
    const since = Date.now();
    await store.markSuccess("s", 1);
    await store.markFailure("f", new Error("x"));
    await store.storeResult("p", 1, "PROGRESS");
    await store.markStarted("q");
    await store.saveGroup("g", ["s"]);
    await store.incr("c");
    expect(await storedLifetime(store, "s", since)).toBe(60);
    expect(await storedLifetime(store, "f", since)).toBe(3600);
    expect(await storedLifetime(store, "p", since)).toBeNull();
    expect(await storedLifetime(store, "q", since)).toBe(600);
    const group = await store.backend.readGroup("g");
    expect(Math.round(((group?.expiresAt?.getTime() ?? 0) - since) / 1000)).toBe(600);
  });

  it("uses one day for states the map leaves out when it has no default", async () => {
    const store = await createStore({ expires: { FAILURE: 10 } });
    const since = Date.now();
    await store.markStarted("a");
    expect(await storedLifetime(store, "a", since)).toBe(86_400);
  });

  it("keeps records forever under default: null or 0, and the number form still works", async () => {
    for (const expires of [{ default: null }, { default: 0 }, null, 0]) {
      const store = await createStore({ expires });
      await store.markStarted("a");
      expect((await store.backend.read("a"))?.expiresAt).toBeNull();
    }
    const store = await createStore({ expires: 5 });
    const since = Date.now();
    await store.markFailure("b", new Error("x"));
    expect(await storedLifetime(store, "b", since)).toBe(5);
  });

  it("a refused write keeps the stored state's expiry", async () => {
    const store = await createStore({ expires: { SUCCESS: 60, STARTED: 3600 } });
    const since = Date.now();
    await store.markSuccess("t", 1);
    expect((await store.markStarted("t")).applied).toBe(false);
    expect(await storedLifetime(store, "t", since)).toBe(60);
  });

  it.each([
    [{ success: 10 }, /key "success"/],
    [{ "": 10 }, /key ""/],
    [{ SUCCESS: -1 }, /expires.SUCCESS.*got -1/],
    [{ FAILURE: Number.POSITIVE_INFINITY }, /expires.FAILURE.*got Infinity/],
    [{ default: Number.NaN }, /expires.default.*got NaN/],
    [{ SUCCESS: "10" }, /expires.SUCCESS/],
    [[10], /plain object/],
    [new Map([["SUCCESS", 1]]), /plain object/],
    [-5, /got -5/],
    ["86400", /got 86400/],
  ])("refuses expires %o with a ConfigurationError", (expires, message) => {
    const build = () => new ResultStore(new MemoryBackend(), { expires: expires as never });
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(message);
  });
});
