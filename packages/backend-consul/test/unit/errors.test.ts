// How Consul's HTTP failures map to core's errors and to isRetryable.
import { BackendConnectionError, BackendError, ContentionError } from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { errors, StatusFailure, TransportFailure } from "../../src/errors.js";

describe("HTTP errors", () => {
  it("an error status is a BackendError naming the call and the status", () => {
    const wrapped = errors.wrapError(new StatusFailure(403, "ACL not found\n"), "KV read");
    expect(wrapped).toBeInstanceOf(BackendError);
    expect(wrapped.message).toBe("[resultstore] [consul] KV read failed (HTTP 403): ACL not found");
    expect(errors.isRetryable(wrapped)).toBe(false);
  });
  it("an unreachable agent, throttling, no leader and lost races are retryable", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const unreachable = errors.wrapError(new TransportFailure("http://h:1", refused), "GET /v1/kv");
    expect(unreachable).toBeInstanceOf(BackendConnectionError);
    expect(unreachable.message).toContain("cannot reach Consul at http://h:1: ECONNREFUSED");
    for (const status of [429, 500, 503])
      expect(errors.isRetryable(errors.wrapError(new StatusFailure(status, ""), "x"))).toBe(true);
    expect(errors.isRetryable(unreachable)).toBe(true);
    expect(errors.isRetryable(new ContentionError("consul", "write of k", 200))).toBe(true);
    expect(errors.isRetryable(new Error("other"))).toBe(false);
  });
});
