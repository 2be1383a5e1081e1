// How driver failures map to core's errors and to isRetryable (shapes as @azure/cosmos throws them).
import { BackendConnectionError, BackendError } from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { errors } from "../../src/errors.js";

const cosmosError = (code: number, message = "boom\n{diagnostics}") =>
  Object.assign(new Error(message), { code });

describe("driver errors", () => {
  it("an HTTP failure becomes a BackendError naming the status, first line only", () => {
    const error = errors.wrapError(
      cosmosError(401, "The input authorization token can't serve the request.\n{...}"),
      "Reading task t",
    );
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toBe(
      "[resultstore] [cosmos] Reading task t failed (HTTP 401): The input authorization token can't serve the request.",
    );
  });
  it("a socket failure becomes a BackendConnectionError", () => {
    const socket = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(
      errors.wrapError(Object.assign(new Error("request failed"), { cause: socket }), "Reading"),
    ).toBeInstanceOf(BackendConnectionError);
  });
  it.each([
    [408, true],
    [429, true],
    [449, true],
    [503, true],
    [400, false],
    [401, false],
    [404, false],
    [409, false],
    [412, false],
    [500, false],
  ])("HTTP %i is retryable: %s", (status, retryable) => {
    expect(errors.isRetryable(errors.wrapError(cosmosError(status), "x"))).toBe(retryable);
  });
  it("network codes and the SDK's TimeoutError are retryable, other errors are not", () => {
    expect(errors.isRetryable(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBe(
      true,
    );
    expect(errors.isRetryable(Object.assign(new Error("timeout"), { code: "TimeoutError" }))).toBe(
      true,
    );
    expect(errors.isRetryable(new TypeError("bug"))).toBe(false);
  });
});
