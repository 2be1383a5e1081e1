import { describe, expect, it, vi } from "vitest";
import { defineErrorMapping, validateMetadata } from "../src/backend.js";
import {
  BackendConnectionError,
  BackendUnavailableError,
  EncodeError,
  encodeJson,
  IncrementOutcomeUnknownError,
  InvalidMetadataError,
  MAX_METADATA_DEPTH,
  MemoryBackend,
  OutcomeUnknownError,
  ResultStore,
  WriteOutcomeUnknownError,
} from "../src/index.js";

/** A memory backend whose every call is judged retryable by the backend itself. */
function eager(): MemoryBackend {
  return Object.assign(new MemoryBackend(), { isRetryable: () => true });
}
const policy = { alwaysRetry: true, retryPolicy: { baseMs: 1 } };

describe("outcome-unknown errors: one family, narrowed to the call", () => {
  it("a backend's OutcomeUnknownError on a write is a WriteOutcomeUnknownError naming the task", async () => {
    const backend = new MemoryBackend();
    vi.spyOn(backend, "write").mockRejectedValue(
      new OutcomeUnknownError("memory", "write timed out at the coordinator"),
    );
    const error = await new ResultStore(backend).markStarted("t").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect((error as WriteOutcomeUnknownError).taskId).toBe("t");
    expect((error as Error).message).toMatch(/write timed out at the coordinator/);
  });

  it("…and on an increment an IncrementOutcomeUnknownError, never retried even when the backend says so", async () => {
    const backend = eager();
    const incr = vi
      .spyOn(backend, "incr")
      .mockRejectedValue(new OutcomeUnknownError("memory", "the answer was lost"));
    const error = await new ResultStore(backend, policy).incr("c").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IncrementOutcomeUnknownError);
    expect((error as IncrementOutcomeUnknownError).counter).toBe("c");
    expect(incr).toHaveBeenCalledTimes(1);
  });

  it("an increment that may have reached the server is not retried; one that sent nothing is", async () => {
    const backend = eager();
    const incr = vi
      .spyOn(backend, "incr")
      .mockRejectedValueOnce(new BackendConnectionError("memory", "socket hang up"));
    await expect(new ResultStore(backend, policy).incr("c")).rejects.toBeInstanceOf(
      BackendConnectionError,
    );
    expect(incr).toHaveBeenCalledTimes(1);
    incr.mockRestore();
    const unsent = vi
      .spyOn(backend, "incr")
      .mockRejectedValueOnce(new BackendUnavailableError("memory", "no host up"));
    expect(await new ResultStore(backend, policy).incr("d")).toBe(1);
    expect(unsent).toHaveBeenCalledTimes(2);
  });

  it("a write of unknown outcome is retried under alwaysRetry and recognises itself", async () => {
    const backend = new MemoryBackend();
    const write = backend.write.bind(backend);
    vi.spyOn(backend, "write").mockImplementationOnce(async (w) => {
      await write(w);
      throw new OutcomeUnknownError("memory", "timed out after the write reached the server");
    });
    const store = new ResultStore(backend, policy);
    expect(await store.markSuccess("t", 1)).toMatchObject({ applied: true });
  });

  it("a retry that sends nothing after an attempt that may have landed is unknown, not 'nothing sent'", async () => {
    // packages/proof, Cassandra under faults: the first copy was cut off after sending (and
    // landed), the retry found no host up, and the caller heard BackendUnavailableError.
    const backend = eager();
    const write = backend.write.bind(backend);
    vi.spyOn(backend, "write")
      .mockImplementationOnce(async (w) => {
        await write(w);
        throw new BackendConnectionError("memory", "socket closed after sending");
      })
      .mockRejectedValueOnce(new BackendUnavailableError("memory", "no host up"));
    const store = new ResultStore(backend, {
      alwaysRetry: true,
      retryPolicy: { baseMs: 1, maxRetries: 1 },
    });
    await expect(store.markSuccess("t", 1)).rejects.toBeInstanceOf(WriteOutcomeUnknownError);
    expect((await store.getMeta("t")).status).toBe("SUCCESS");
  });

  it("a chord delivery whose member was counted never answers 'nothing sent'", async () => {
    // packages/proof, Cassandra: the member's add landed, the claim then found no host, and the
    // delivery reported BackendUnavailableError although it had counted the member.
    const backend = new MemoryBackend();
    vi.spyOn(backend, "write").mockRejectedValue(new BackendUnavailableError("memory", "no host"));
    const store = new ResultStore(backend);
    const error = await store
      .onChordPartReturn({ groupId: "g", taskId: "m", size: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendConnectionError);
    expect(error).not.toBeInstanceOf(BackendUnavailableError);
  });

  it("a write that sent nothing and is then refused is a plain refusal", async () => {
    const backend = new MemoryBackend();
    const store = new ResultStore(backend, policy);
    await store.markSuccess("t", 1);
    vi.spyOn(backend, "write").mockRejectedValueOnce(
      new BackendUnavailableError("memory", "connection refused"),
    );
    expect(await store.markStarted("t")).toMatchObject({ applied: false });
  });

  it("an error mapping types unsent and maybe-landed failures, and retries neither blindly", () => {
    const mapping = defineErrorMapping({
      backend: "x",
      isTransport: () => true,
      isUnsent: (e) => (e as { code?: string }).code === "NOHOST",
      isOutcomeUnknown: (e) => (e as { code?: string }).code === "WRITE_TIMEOUT",
    });
    const unsent = mapping.wrapError(Object.assign(new Error("none up"), { code: "NOHOST" }), "w");
    const unknown = mapping.wrapError(
      Object.assign(new Error("cas timeout"), { code: "WRITE_TIMEOUT" }),
      "w",
    );
    expect(unsent).toBeInstanceOf(BackendUnavailableError);
    expect(unknown).toBeInstanceOf(OutcomeUnknownError);
    expect(mapping.isRetryable(unsent)).toBe(true);
    expect(mapping.isRetryable(unknown)).toBe(false);
  });
});

describe("very deep values get typed errors, not a RangeError", () => {
  const nested = (depth: number) => {
    const root: Record<string, unknown> = {};
    let at = root;
    for (let i = 0; i < depth; i++) {
      const next = {};
      at.a = next;
      at = next;
    }
    return root;
  };
  it("metadata deeper than the limit is InvalidMetadataError; at the limit it is fine", async () => {
    expect(() => validateMetadata(nested(MAX_METADATA_DEPTH))).not.toThrow();
    expect(() => validateMetadata(nested(MAX_METADATA_DEPTH + 1))).toThrow(InvalidMetadataError);
    expect(() => validateMetadata(nested(50_000))).toThrow(InvalidMetadataError);
    const store = new ResultStore(new MemoryBackend());
    await expect(store.markQueued("t", { metadata: nested(50_000) })).rejects.toBeInstanceOf(
      InvalidMetadataError,
    );
    expect((await store.getMeta("t")).status).toBe("PENDING");
  });
  it("a result nested past the stack is an EncodeError", () => {
    expect(() => encodeJson(nested(50_000))).toThrow(EncodeError);
  });
});
