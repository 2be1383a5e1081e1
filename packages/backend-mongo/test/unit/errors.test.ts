// How driver failures map to core's errors and to isRetryable (the driver's own error classes).
import {
  BackendConnectionError,
  BackendError,
  BackendUnavailableError,
  ContentionError,
  OutcomeUnknownError,
} from "@resultstore/core";
import {
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoWriteConcernError,
} from "mongodb";
import { describe, expect, it } from "vitest";
import { resendsWrites } from "../../src/client.js";
import { errors, WriteMayHaveBeenSent } from "../../src/errors.js";

describe("error mapping", () => {
  const server = (code: number, labels: string[] = []) => {
    const error = new MongoServerError({ message: `failed ${code}`, code });
    for (const label of labels) error.addErrorLabel(label);
    return error;
  };
  it("names the operation and the server's code, and keeps the cause", () => {
    const wrapped = errors.wrapError(server(13), "read of task t1");
    expect(wrapped).toBeInstanceOf(BackendError);
    expect(wrapped.message).toBe(
      "[resultstore] [mongodb] Read of task t1 failed (code 13): failed 13",
    );
    expect(wrapped.cause).toBeInstanceOf(MongoServerError);
  });
  it("retries transport failures, transient codes, retryable labels and lost races only", () => {
    expect(errors.isRetryable(new MongoNetworkError("reset"))).toBe(true);
    expect(errors.isRetryable(errors.wrapError(server(91), "write of task t1"))).toBe(true);
    expect(errors.isRetryable(server(2, ["RetryableWriteError"]))).toBe(true);
    expect(errors.isRetryable(new ContentionError("mongodb", "incr of counter k", 64))).toBe(true);
    expect(errors.isRetryable(server(13))).toBe(false);
    expect(errors.isRetryable(server(11000))).toBe(false);
  });
});

describe("outcome unknown and unsent (issue 28)", () => {
  it("a write concern failure may have been applied: OutcomeUnknownError, not retryable", () => {
    const wtimeout = new MongoWriteConcernError({
      ok: 1,
      writeConcernError: { code: 64, errmsg: "waiting for replication timed out" },
    } as never);
    const wrapped = errors.wrapError(wtimeout, "write of task t1");
    expect(wrapped).toBeInstanceOf(OutcomeUnknownError);
    expect(errors.isRetryable(wrapped)).toBe(false);
    expect(errors.isRetryable(wtimeout)).toBe(false);
    // A step-down reported as a write concern error (code 91) is not the plain refusal it
    // would be as a top-level error: the write was applied on the old primary.
    const stepDown = new MongoWriteConcernError({
      ok: 1,
      writeConcernError: { code: 91, errmsg: "shutdown in progress" },
    } as never);
    expect(errors.wrapError(stepDown, "incr of counter k")).toBeInstanceOf(OutcomeUnknownError);
  });
  it("a bare server selection failure sent nothing; one that may follow a sent write did not", () => {
    const selection = new MongoServerSelectionError("no server", {} as never);
    const unsent = errors.wrapError(selection, "write of task t1");
    expect(unsent).toBeInstanceOf(BackendUnavailableError);
    expect(errors.isRetryable(unsent)).toBe(true);
    const maybe = errors.wrapError(new WriteMayHaveBeenSent(selection), "write of task t1");
    expect(maybe).toBeInstanceOf(BackendConnectionError);
    expect(maybe).not.toBeInstanceOf(BackendUnavailableError);
  });
  it("only replica sets and sharded clusters with retryWrites get a write twice", () => {
    const replicaSet = { setName: "rs0", logicalSessionTimeoutMinutes: 30 };
    expect(resendsWrites(true, replicaSet)).toBe(true);
    expect(resendsWrites(true, { msg: "isdbgrid", logicalSessionTimeoutMinutes: 30 })).toBe(true);
    expect(resendsWrites(false, replicaSet)).toBe(false);
    expect(resendsWrites(true, { isWritablePrimary: true, logicalSessionTimeoutMinutes: 30 })).toBe(
      false,
    ); // standalone (FerretDB answers so)
    expect(resendsWrites(true, undefined)).toBe(true);
  });
});
