// How driver failures map to core's errors and to isRetryable (the driver's own error classes).
import { BackendConnectionError, BackendError, ContentionError } from "@resultstore/core";
import cassandra from "cassandra-driver";
import { describe, expect, it } from "vitest";
import { errors } from "../../src/errors.js";

const { errors: driver, types } = cassandra;
const response = (code: number, extra: object = {}) =>
  Object.assign(new driver.ResponseError(code, `server said ${code}`), extra);

describe("driver errors", () => {
  it("a server refusal is a BackendError naming the operation and the code", () => {
    const wrapped = errors.wrapError(response(types.responseErrorCodes.invalid), "read of t");
    expect(wrapped).toBeInstanceOf(BackendError);
    expect(wrapped.message).toBe(
      "[resultstore] [cassandra] read of t failed (code 8704): server said 8704",
    );
    expect(errors.isRetryable(wrapped)).toBe(false);
  });
  it("no host, timeouts and overload are retryable; rejected credentials are not", () => {
    const noHost = new driver.NoHostAvailableError({});
    expect(errors.wrapError(noHost, "read")).toBeInstanceOf(BackendConnectionError);
    expect(errors.isRetryable(noHost)).toBe(true);
    expect(errors.isRetryable(response(types.responseErrorCodes.overloaded))).toBe(true);
    const auth = errors.wrapError(new driver.AuthenticationError("bad password"), "connect");
    expect(auth).toBeInstanceOf(BackendConnectionError);
    expect(errors.isRetryable(auth)).toBe(false);
    expect(errors.isRetryable(new ContentionError("cassandra", "write of t", 64))).toBe(true);
  });
  it("a Paxos timeout says the write may or may not have been applied", () => {
    const cas = response(types.responseErrorCodes.writeTimeout, { writeType: "CAS" });
    const wrapped = errors.wrapError(cas, "write of t");
    expect(wrapped.message).toMatch(/may or may not have been applied/);
    expect(errors.isRetryable(wrapped)).toBe(true);
  });
});
