/**
 * Issue 28: a change Consul answered with a server error may have been applied, and is typed so
 * (never retried blindly); a connection our own client saw refused sent nothing.
 */
import { randomUUID } from "node:crypto";
import { connect, createServer, type Server } from "node:net";
import { serverTarget } from "@resultstore/conformance";
import {
  BackendConnectionError,
  BackendUnavailableError,
  IncrementOutcomeUnknownError,
  OutcomeUnknownError,
  ResultStore,
  WriteOutcomeUnknownError,
} from "@resultstore/core";
import { afterEach, describe, expect, it } from "vitest";
import { ConsulBackend, type FetchLike, fromUrl } from "../src/index.js";

const target = serverTarget("CONSUL");

/** Forwards every request; a write transaction lands, and then its answer becomes a 500. */
const answers500AfterWrites: FetchLike = async (url, init) => {
  const response = await fetch(url, init);
  const isWriteTxn =
    new URL(url).pathname === "/v1/txn" && !/"Verb":"get-tree"/.test(init.body ?? "");
  if (!isWriteTxn || response.status !== 200) return response;
  return { status: 500, text: async () => "rpc error: leadership lost while committing log" };
};

/**
 * A proxy to host:port that passes requests on and answers back, except that once a connection
 * carries a request starting with `dropAfter` (e.g. "PUT /v1/txn"), every later answer on it is
 * read and discarded: that request lands, and its answer is lost.
 */
async function answerDropper(
  host: string,
  port: number,
  dropAfter: string,
): Promise<{ port: number; server: Server }> {
  const server = createServer((client) => {
    const upstream = connect(port, host);
    let dropping = false;
    client.on("data", (chunk: Buffer) => {
      if (chunk.includes(dropAfter)) dropping = true;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!dropping) client.write(chunk);
    });
    for (const socket of [client, upstream]) socket.on("error", () => {});
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe.skipIf(!target.url)(`consul outcome typing ${target.reason}`, () => {
  const url = target.url as string;
  const namespace = `rs-test/${randomUUID()}`;
  const plain = new ResultStore(fromUrl(url, { namespace, sessionExpiry: false }));
  const failing = new ResultStore(
    fromUrl(url, { namespace, sessionExpiry: false, fetch: answers500AfterWrites }),
  );
  afterEach(async () => {
    await plain.backend.destroy?.();
  });

  it("a write answered 500 after it landed is a WriteOutcomeUnknownError, not retryable", async () => {
    const id = randomUUID();
    const error = await failing.markSuccess(id, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(failing.backend.isRetryable?.(error)).toBe(false);
    expect((await plain.getMeta(id)).status).toBe("SUCCESS"); // it had landed
  });

  it("an increment answered 500 after it counted is an IncrementOutcomeUnknownError", async () => {
    const key = `c-${randomUUID()}`;
    const error = await failing.incr(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IncrementOutcomeUnknownError);
    expect(failing.backend.isRetryable?.(error)).toBe(false);
    expect(await plain.incr(key)).toBe(2); // the first one counted
  });

  it("a set add answered 500 is outcome-unknown at the backend, and core retries it (idempotent)", async () => {
    const key = `s-${randomUUID()}`;
    const expiresAt = new Date(Date.now() + 60_000);
    const error = await failing.backend.addToSet(key, "a", expiresAt).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect(await plain.backend.addToSet(key, "a", expiresAt)).toBe(1);
  });

  /** A store of our own client through `answerDropper`; `body` gets it, then all is closed. */
  const throughDropper = async (
    dropAfter: string,
    body: (lossy: ResultStore) => Promise<void>,
  ): Promise<void> => {
    const { hostname, port } = new URL(url);
    const dropper = await answerDropper(hostname, Number(port), dropAfter);
    const backend = new ConsulBackend({
      port: dropper.port,
      namespace,
      sessionExpiry: false,
      requestTimeoutMs: 1000,
    });
    const lossy = new ResultStore(backend);
    try {
      await body(lossy);
    } finally {
      await lossy.close();
      await new Promise((resolve) => dropper.server.close(resolve));
    }
  };

  it("an increment whose answer is lost after our client sent it is IncrementOutcomeUnknownError", async () => {
    const key = `c-${randomUUID()}`;
    await throughDropper("PUT /v1/txn", async (lossy) => {
      const error = await lossy.incr(key).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IncrementOutcomeUnknownError);
      expect(lossy.backend.isRetryable?.(error)).toBe(false);
    });
    expect(await plain.incr(key)).toBe(2); // it had counted
  });

  it("a read whose answer is lost stays a retryable connection error", async () => {
    await throughDropper("GET /v1/kv", async (lossy) => {
      const error = await lossy.getMeta(randomUUID()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendConnectionError);
      expect(error).not.toBeInstanceOf(OutcomeUnknownError);
      expect(lossy.backend.isRetryable?.(error)).toBe(true);
    });
  });

  it("a refused connection of our own client is a BackendUnavailableError: nothing was sent", async () => {
    const backend = new ConsulBackend({ host: "127.0.0.1", port: 1, requestTimeoutMs: 2000 });
    const store = new ResultStore(backend);
    for (const call of [() => store.markSuccess(randomUUID(), 1), () => store.incr("k")]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(backend.isRetryable(error)).toBe(true);
    }
    await store.close();
  });

  it("through a caller's fetch (which may retry by itself) a refusal stays a connection error", async () => {
    const backend = new ConsulBackend({
      host: "127.0.0.1",
      port: 1,
      requestTimeoutMs: 2000,
      fetch: (u, init) => fetch(u, init),
    });
    const error = await backend.read("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendConnectionError);
    expect(error).not.toBeInstanceOf(BackendUnavailableError);
    await backend.close();
  });
});
