/** The helpers every backend configures: error mapping, lost-race retries, increment batching, lazy connections, options. */
import { describe, expect, it } from "vitest";
import {
  defineErrorMapping,
  enumOption,
  IncrementBatcher,
  isNetworkError,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  retryLostRaces,
  SetAddBatcher,
} from "../src/backend.js";
import {
  BackendConnectionError,
  BackendError,
  ConfigurationError,
  ContentionError,
  StoreClosedError,
  ValueTooLargeError,
} from "../src/index.js";

/** A driver error as many SDKs throw them: a status, maybe a socket code. */
const driver = (message: string, fields: { status?: number; code?: string } = {}) =>
  Object.assign(new Error(message), fields);

const errors = defineErrorMapping({
  backend: "kit",
  isTransport: (error) =>
    (error as { status?: number }).status === undefined && isNetworkError(error),
  statusOf: (error) => (error as { status?: number }).status,
  statusLabel: "HTTP",
  transientStatuses: [503],
  isConnectionRefusal: (error) => (error as { status?: number }).status === 401,
  special: (error) =>
    (error as { status?: number }).status === 413
      ? new ValueTooLargeError("kit", 2, 1, { cause: error })
      : undefined,
});

describe("defineErrorMapping", () => {
  it("wraps a refusal as a BackendError naming operation and status, first line only", () => {
    const wrapped = errors.wrapError(driver("denied\n{diagnostics}", { status: 400 }), "read of t");
    expect(wrapped).toBeInstanceOf(BackendError);
    expect(wrapped.message).toBe("[resultstore] [kit] Read of t failed (HTTP 400): denied");
    expect(errors.statusOf(wrapped)).toBe(400);
  });
  it("wraps transport failures (also deep in the cause chain) as retryable connection errors", () => {
    const socket = driver("connect ECONNREFUSED", { code: "ECONNREFUSED" });
    const wrapped = errors.wrapError(new Error("fetch failed", { cause: socket }), "read");
    expect(wrapped).toBeInstanceOf(BackendConnectionError);
    expect(errors.isRetryable(wrapped)).toBe(true);
  });
  it("reports refused credentials as a connection error that is not retryable", () => {
    const wrapped = errors.wrapError(driver("bad key", { status: 401 }), "read");
    expect(wrapped).toBeInstanceOf(BackendConnectionError);
    expect(errors.isRetryable(wrapped)).toBe(false);
  });
  it("retries transient statuses and lost races; nothing else", () => {
    expect(errors.isRetryable(driver("busy", { status: 503 }))).toBe(true);
    expect(errors.isRetryable(errors.wrapError(driver("busy", { status: 503 }), "x"))).toBe(true);
    expect(errors.isRetryable(new ContentionError("kit", "write", 3))).toBe(true);
    expect(errors.isRetryable(driver("no", { status: 409 }))).toBe(false);
    expect(errors.isRetryable(new TypeError("bug"))).toBe(false);
    expect(errors.isRetryable(new BackendError("kit", "ours, no cause"))).toBe(false);
  });
  it("passes special cases and our own errors through unchanged", () => {
    expect(errors.wrapError(driver("big", { status: 413 }), "write")).toBeInstanceOf(
      ValueTooLargeError,
    );
    const ours = new ConfigurationError("kit", "x");
    expect(errors.wrapError(ours, "write")).toBe(ours);
  });
  it("never quotes a credential a driver message carries in a URL", () => {
    const wrapped = errors.wrapError(driver("GET http://u:hunter2@h:1/ failed"), "read");
    expect(wrapped.message).not.toContain("hunter2");
  });
  it("guard wraps failures, and `on` turns expected statuses into results", async () => {
    const missing = () => Promise.reject(driver("gone", { status: 404 }));
    await expect(errors.guard("read", missing)).rejects.toThrow("Read failed (HTTP 404): gone");
    await expect(errors.guard("read", missing, errors.on([404], null))).resolves.toBeNull();
    await expect(errors.guard("read", missing, errors.on([409], null))).rejects.toBeInstanceOf(
      BackendError,
    );
  });
});

describe("retryLostRaces", () => {
  it("runs until an attempt lands, counting rounds", async () => {
    const rounds: number[] = [];
    const value = await retryLostRaces("kit", "write of t", async (round) => {
      rounds.push(round);
      return round < 2 ? LOST_RACE : "landed";
    });
    expect([value, rounds]).toEqual(["landed", [0, 1, 2]]);
  });
  it("gives up with a retryable ContentionError naming what lost", async () => {
    const failing = retryLostRaces("kit", "write of t", async () => LOST_RACE, 3);
    await expect(failing).rejects.toBeInstanceOf(ContentionError);
    await expect(failing).rejects.toThrow("[resultstore] [kit] write of t lost 3 races");
  });
});

describe("IncrementBatcher", () => {
  it("adds concurrent same-key increments in one step, each caller seeing its own value", async () => {
    const steps: [string, number, Date | null][] = [];
    let stored = 10;
    const batcher = new IncrementBatcher(async (key, total, expiresAt) => {
      steps.push([key, total, expiresAt]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      stored += total;
      return stored;
    });
    const early = new Date(1000);
    const late = new Date(2000);
    const values = await Promise.all([
      batcher.incr("k", 1, late),
      batcher.incr("k", 2, late),
      batcher.incr("k", 3, early),
    ]);
    expect(values).toEqual([11, 13, 16]);
    // The first runs alone; the two that queued behind it share one step with the LAST expiry.
    expect(steps).toEqual([
      ["k", 1, late],
      ["k", 5, early],
    ]);
  });
  it("rejects every caller of a failed step, and the next step starts afresh", async () => {
    let fail = true;
    const batcher = new IncrementBatcher(async (_key, total) => {
      if (fail) throw new Error("down");
      return total;
    });
    await expect(batcher.incr("k", 1, null)).rejects.toThrow("down");
    fail = false;
    await expect(batcher.incr("k", 4, null)).resolves.toBe(4);
  });
});

describe("SetAddBatcher", () => {
  it("adds concurrent same-key members in one step, each caller seeing the size after it", async () => {
    const steps: [string, string[], Date | null][] = [];
    const stored = new Set<string>();
    const batcher = new SetAddBatcher(async (key, members, expiresAt) => {
      steps.push([key, members, expiresAt]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      for (const member of members) stored.add(member);
      return stored.size;
    });
    const late = new Date(2000);
    const sizes = await Promise.all([
      batcher.add("k", "a", late),
      batcher.add("k", "b", late),
      batcher.add("k", "a", null),
    ]);
    expect(sizes).toEqual([1, 2, 2]);
    expect(steps).toEqual([
      ["k", ["a"], late],
      ["k", ["b", "a"], null],
    ]);
  });
});

describe("LazyConnection", () => {
  it("opens once for concurrent callers, forgets a failed open, refuses after close", async () => {
    let opens = 0;
    let fail = true;
    const released: unknown[] = [];
    const connection = new LazyConnection("kit", async () => {
      opens++;
      if (fail) throw new Error("down");
      return `client ${opens}`;
    });
    await expect(connection.get()).rejects.toThrow("down");
    fail = false;
    const [a, b] = await Promise.all([connection.get(), connection.get()]);
    expect([a, b, opens]).toEqual(["client 2", "client 2", 2]);
    await Promise.all([connection.close((c) => released.push(c)), connection.close()]);
    await connection.close((c) => released.push(c));
    expect(released).toEqual(["client 2"]);
    await expect(connection.get()).rejects.toBeInstanceOf(StoreClosedError);
  });
  it("releases nothing when nothing was opened", async () => {
    const connection = new LazyConnection("kit", async () => "client");
    const released: unknown[] = [];
    await connection.close((c) => released.push(c));
    expect(released).toEqual([undefined]);
  });
});

describe("option helpers", () => {
  it("enumOption accepts a listed value, skips an absent one, refuses others", () => {
    expect(enumOption("b", ["a", "b"], "mode", "kit")).toBe("b");
    expect(enumOption(undefined, ["a", "b"], "mode", "kit")).toBeUndefined();
    expect(() => enumOption("c", ["a", "b"], "mode", "kit")).toThrow(
      'Option `mode` must be one of "a", "b", got "c".',
    );
  });
  it("mergeUrlOptions: options with a value win, undefined ones leave the URL's", () => {
    expect(mergeUrlOptions({ host: "u", port: 1 }, { host: undefined, port: 2, x: 3 })).toEqual({
      host: "u",
      port: 2,
      x: 3,
    });
  });
});
