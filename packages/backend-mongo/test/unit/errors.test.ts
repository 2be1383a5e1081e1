// How driver failures map to core's errors and to isRetryable (the driver's own error classes).
import { BackendError, ContentionError } from "@resultstore/core";
import { MongoNetworkError, MongoServerError } from "mongodb";
import { describe, expect, it } from "vitest";
import { errors } from "../../src/errors.js";

describe("error mapping", () => {
  const server = (code: number, labels: string[] = []) => {
    const error = new MongoServerError({ message: `failed ${code}`, code });
    for (const label of labels) error.addErrorLabel(label);
    return error;
  };
  it("names the operation and the server's code, and keeps the cause", () => {
    const wrapped = errors.wrapError(server(13), "read");
    expect(wrapped).toBeInstanceOf(BackendError);
    expect(wrapped.message).toBe("[resultstore] [mongodb] read failed (code 13): failed 13");
    expect(wrapped.cause).toBeInstanceOf(MongoServerError);
  });
  it("retries transport failures, transient codes, retryable labels and lost races only", () => {
    expect(errors.isRetryable(new MongoNetworkError("reset"))).toBe(true);
    expect(errors.isRetryable(errors.wrapError(server(91), "write"))).toBe(true);
    expect(errors.isRetryable(server(2, ["RetryableWriteError"]))).toBe(true);
    expect(errors.isRetryable(new ContentionError("mongodb", "incr of k", 64))).toBe(true);
    expect(errors.isRetryable(server(13))).toBe(false);
    expect(errors.isRetryable(server(11000))).toBe(false);
  });
});
