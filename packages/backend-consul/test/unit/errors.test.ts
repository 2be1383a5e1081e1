// How Consul's HTTP failures map to core's errors and to isRetryable.
import {
  BackendConnectionError,
  BackendError,
  BackendUnavailableError,
  ContentionError,
  OutcomeUnknownError,
} from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { errors, StatusFailure, TransportFailure } from "../../src/errors.js";

describe("HTTP errors", () => {
  it("an error status is a BackendError naming the call and the status", () => {
    const wrapped = errors.wrapError(new StatusFailure(403, "ACL not found\n"), "read of task t1");
    expect(wrapped).toBeInstanceOf(BackendError);
    expect(wrapped.message).toBe(
      "[resultstore] [consul] Read of task t1 failed (HTTP 403): ACL not found",
    );
    expect(errors.isRetryable(wrapped)).toBe(false);
  });
  it("an unreachable agent, throttling, no leader and lost races are retryable", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const unreachable = errors.wrapError(
      new TransportFailure("http://h:1", refused),
      "read of task t1",
    );
    expect(unreachable).toBeInstanceOf(BackendConnectionError);
    expect(unreachable.message).toContain("cannot reach Consul at http://h:1: ECONNREFUSED");
    for (const status of [429, 500, 503])
      expect(
        errors.isRetryable(errors.wrapError(new StatusFailure(status, ""), "read of task t1")),
      ).toBe(true);
    expect(errors.isRetryable(unreachable)).toBe(true);
    expect(errors.isRetryable(new ContentionError("consul", "write of k", 200))).toBe(true);
    expect(errors.isRetryable(new Error("other"))).toBe(false);
  });
});

describe("outcome unknown and unsent (issue 28)", () => {
  it("a 500 answering a change is an OutcomeUnknownError, never retryable", () => {
    const wrapped = errors.wrapError(
      new StatusFailure(500, "leadership lost", true),
      "write of task t1",
    );
    expect(wrapped).toBeInstanceOf(OutcomeUnknownError);
    expect(errors.isRetryable(wrapped)).toBe(false);
    for (const status of [502, 504])
      expect(
        errors.wrapError(new StatusFailure(status, "", true), "read of task t1"),
      ).toBeInstanceOf(OutcomeUnknownError);
  });
  it("a 500 answering a read, a rate limit, or 'No cluster leader' changed nothing: retryable", () => {
    const read = errors.wrapError(new StatusFailure(500, "rpc error"), "read of task t1");
    const noLeader = errors.wrapError(
      new StatusFailure(500, "rpc error making call: No cluster leader", true),
      "write of task t1",
    );
    const limited = errors.wrapError(
      new StatusFailure(429, "rate limit exceeded", true),
      "write of task t1",
    );
    for (const error of [read, noLeader, limited]) {
      expect(error).not.toBeInstanceOf(OutcomeUnknownError);
      expect(errors.isRetryable(error)).toBe(true);
    }
  });
  it("a refused connection of our own client sent nothing; through a caller's fetch it may have", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const own = errors.wrapError(
      new TransportFailure("http://h:1", refused, { ownClient: true, change: true }),
      "write of task t1",
    );
    expect(own).toBeInstanceOf(BackendUnavailableError);
    expect(errors.isRetryable(own)).toBe(true);
    const viaFetch = errors.wrapError(
      new TransportFailure("http://h:1", refused),
      "write of task t1",
    );
    expect(viaFetch).not.toBeInstanceOf(BackendUnavailableError);
    expect(viaFetch).toBeInstanceOf(BackendConnectionError);
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const lost = errors.wrapError(
      new TransportFailure("http://h:1", reset, { ownClient: true }),
      "write of task t1",
    );
    expect(lost).not.toBeInstanceOf(BackendUnavailableError);
    expect(errors.isRetryable(lost)).toBe(true); // a read, or a change never fully sent
  });
  it("a change whose answer never came after our client sent it may have been applied", () => {
    const timeout = Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" });
    const context = { ownClient: true, change: true, sent: true };
    const unknown = errors.wrapError(
      new TransportFailure("http://h:1", timeout, context),
      "write of task t1",
    );
    expect(unknown).toBeInstanceOf(OutcomeUnknownError);
    expect(errors.isRetryable(unknown)).toBe(false);
    // A read that timed out, or a caller's fetch (which may have re-sent), stay retryable.
    for (const other of [
      { ownClient: true, sent: true },
      { change: true, sent: true },
    ]) {
      const wrapped = errors.wrapError(
        new TransportFailure("http://h:1", timeout, other),
        "read of task t1",
      );
      expect(wrapped).not.toBeInstanceOf(OutcomeUnknownError);
      expect(errors.isRetryable(wrapped)).toBe(true);
    }
  });
});
