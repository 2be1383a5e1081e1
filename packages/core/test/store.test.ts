import { describe, expect, it, vi } from "vitest";
import { backoffMs, withRetry } from "../src/backend.js";
import {
  ContentionError,
  createStore,
  MemoryBackend,
  ResultStore,
  WriteOutcomeUnknownError,
} from "../src/index.js";

describe("ResultStore", () => {
  it("writes Celery's KV meta for what it stores", async () => {
    const store = await createStore();
    await store.markSuccess("t1", { n: 42 }, { request: { groupId: "g1" } });
    const meta = await store.getMeta("t1");
    expect(meta).toMatchObject({
      taskId: "t1",
      status: "SUCCESS",
      result: { n: 42 },
      groupId: "g1",
    });
  });

  it("keeps a non-exception result in an exception state as is (Celery's encode_result)", async () => {
    const store = new ResultStore(new MemoryBackend());
    await store.storeResult("t", "plain", "RETRY");
    expect((await store.getMeta("t")).result).toBe("plain");
  });

  it("maps JS errors to Python builtins only where the meaning is the same", async () => {
    const store = new ResultStore(new MemoryBackend());
    await store.markFailure("a", new RangeError("r"));
    await store.markFailure("b", new TypeError("t"));
    expect((await store.getMeta("a")).result).toMatchObject({
      exc_type: "Exception",
      exc_module: "builtins",
    });
    expect((await store.getMeta("b")).result).toMatchObject({ exc_type: "TypeError" });
  });

  it("retries only what the backend calls retryable, when asked to", async () => {
    const backend = new MemoryBackend();
    const read = vi.spyOn(backend, "read");
    read.mockRejectedValueOnce(new Error("flaky"));
    Object.assign(backend, { isRetryable: () => true });
    const store = new ResultStore(backend, { alwaysRetry: true, retryPolicy: { baseMs: 1 } });
    expect((await store.getMeta("t")).status).toBe("PENDING");
    expect(read).toHaveBeenCalledTimes(2);
  });

  it("writes what the caller passed when it called, whatever the caller changes later", async () => {
    // A caller that stops waiting (its own timeout) reuses its objects while the store still
    // retries: the retry must write the values of the call (the cluster proof saw Cassandra's
    // second attempt write a key the caller added after giving up).
    const backend = new MemoryBackend();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const write = backend.write.bind(backend);
    vi.spyOn(backend, "write").mockImplementationOnce(async () => {
      await gate;
      throw new Error("flaky");
    });
    vi.spyOn(backend, "write").mockImplementation(write);
    Object.assign(backend, { isRetryable: () => true });
    const store = new ResultStore(backend, { alwaysRetry: true, retryPolicy: { baseMs: 1 } });
    const metadata: Record<string, unknown> = { user: { id: 42 } };
    const result = { rows: [1, 2] };
    const args = [{ file: "a.csv" }];
    const stored = store.storeResult("t", result, "SUCCESS", { metadata, request: { args } });
    metadata.late = "added after the call";
    (metadata.user as Record<string, unknown>).id = 7;
    result.rows.push(3);
    args[0] = { file: "b.csv" };
    release();
    expect((await stored).applied).toBe(true);
    const meta = await store.getMeta("t");
    expect(meta.metadata).toEqual({ user: { id: 42 } });
    expect(meta.result).toEqual({ rows: [1, 2] });
    expect(meta.args).toEqual([{ file: "a.csv" }]);
  });

  it("a write retried after it landed reports applied: true, not a refusal", async () => {
    // The first attempt lands, then its answer is lost (a cut connection): alwaysRetry sends it
    // again, and the second attempt finds its own SUCCESS stored.
    const backend = new MemoryBackend();
    const write = backend.write.bind(backend);
    vi.spyOn(backend, "write").mockImplementationOnce(async (w) => {
      await write(w);
      throw new Error("connection reset after the write landed");
    });
    Object.assign(backend, { isRetryable: () => true });
    const store = new ResultStore(backend, { alwaysRetry: true, retryPolicy: { baseMs: 1 } });
    await expect(store.markSuccess("t", 42)).resolves.toMatchObject({ applied: true });
    expect(backend.write).toHaveBeenCalledTimes(2);
    // A different call with the same content is still refused: only the same call is recognised.
    await expect(store.markSuccess("t", 42)).resolves.toMatchObject({ applied: false });
  });

  it("a re-sent write refused after another write landed is unknown, not refused", async () => {
    // The first attempt lands and its answer is lost; before alwaysRetry sends it again, another
    // process's SUCCESS lands (and replaces the write id). The re-sent STARTED is refused, but the
    // first copy did land: neither applied: true nor applied: false would be the truth.
    const backend = new MemoryBackend();
    const other = new ResultStore(backend);
    const write = backend.write.bind(backend);
    vi.spyOn(backend, "write").mockImplementationOnce(async (w) => {
      await write(w);
      await other.markSuccess("t", 1);
      throw new Error("connection reset after the write landed");
    });
    Object.assign(backend, { isRetryable: () => true });
    const store = new ResultStore(backend, { alwaysRetry: true, retryPolicy: { baseMs: 1 } });
    await expect(store.markStarted("t")).rejects.toBeInstanceOf(WriteOutcomeUnknownError);
    expect(backend.write).toHaveBeenCalledTimes(3);
    // Without a re-send a refusal is still a refusal.
    await expect(store.markStarted("t")).resolves.toMatchObject({ applied: false });
  });

  it("a refusal after a lost compare-and-swap (ContentionError: nothing stored) is a refusal", async () => {
    const backend = new MemoryBackend();
    const store = new ResultStore(backend, { alwaysRetry: true, retryPolicy: { baseMs: 1 } });
    await store.markSuccess("t", 1);
    vi.spyOn(backend, "write").mockRejectedValueOnce(new ContentionError("memory", "write", 3));
    Object.assign(backend, { isRetryable: () => true });
    await expect(store.markStarted("t")).resolves.toMatchObject({ applied: false });
    expect(backend.write).toHaveBeenCalledTimes(2);
  });

  it("a refusal the driver reports as re-sent is unknown too", async () => {
    const backend = new MemoryBackend();
    const store = new ResultStore(backend);
    await store.markSuccess("t", 1);
    const write = backend.write.bind(backend);
    vi.spyOn(backend, "write").mockImplementationOnce(async (w) => ({
      ...(await write(w)),
      resent: true,
    }));
    await expect(store.markStarted("t")).rejects.toBeInstanceOf(WriteOutcomeUnknownError);
  });

  it("a failure without I/O still lets timers run before the caller can try again", async () => {
    // A driver with every host marked down rejects at once. A caller that retries straight away
    // must not starve the event loop, or the driver's reconnection timer never fires.
    const backend = new MemoryBackend();
    const down = () => Promise.reject(new Error("All host(s) tried for query failed"));
    vi.spyOn(backend, "read").mockImplementation(down);
    vi.spyOn(backend, "write").mockImplementation(down);
    vi.spyOn(backend, "incr").mockImplementation(down);
    const store = new ResultStore(backend);
    for (const call of [
      () => store.getMeta("t"),
      () => store.markStarted("t"),
      () => store.incr("c"),
    ]) {
      let timerFired = false;
      setTimeout(() => {
        timerFired = true;
      }, 0);
      let attempts = 0;
      while (!timerFired && attempts < 10_000) {
        attempts++;
        await call().catch(() => undefined);
      }
      expect(timerFired).toBe(true);
      expect(attempts).toBeLessThan(10);
    }
  });

  it("does not retry by default", async () => {
    const backend = new MemoryBackend();
    vi.spyOn(backend, "read").mockRejectedValueOnce(new Error("flaky"));
    Object.assign(backend, { isRetryable: () => true });
    await expect(new ResultStore(backend).getMeta("t")).rejects.toThrow("flaky");
  });
});

describe("backoff", () => {
  it("is full jitter under an exponential ceiling", () => {
    const policy = { maxRetries: 5, baseMs: 10, maxMs: 100 };
    expect(backoffMs(0, policy, () => 0.999)).toBe(9);
    expect(backoffMs(3, policy, () => 0.999)).toBe(79);
    expect(backoffMs(10, policy, () => 0.999)).toBe(99);
    expect(backoffMs(10, policy, () => 0)).toBe(0);
  });

  it("gives up after maxRetries", async () => {
    let calls = 0;
    const failing = () => Promise.reject(new Error(`attempt ${++calls}`));
    await expect(
      withRetry(failing, { maxRetries: 2, baseMs: 1, maxMs: 1 }, () => true),
    ).rejects.toThrow("attempt 3");
  });
});
