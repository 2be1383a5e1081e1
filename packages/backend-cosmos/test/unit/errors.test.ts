// How driver failures map to core's errors and to isRetryable (shapes as @azure/cosmos throws them).
import {
  BackendConnectionError,
  BackendError,
  BackendUnavailableError,
  OutcomeUnknownError,
  ValueTooLargeError,
} from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { errors, writeErrors } from "../../src/errors.js";

const cosmosError = (code: number, message = "boom\n{diagnostics}") =>
  Object.assign(new Error(message), { code });

describe("driver errors", () => {
  it("an HTTP failure becomes a BackendError naming the status, first line only", () => {
    const error = errors.wrapError(
      cosmosError(401, "The input authorization token can't serve the request.\n{...}"),
      "read of task t",
    );
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toBe(
      "[resultstore] [cosmos] Read of task t failed (HTTP 401): The input authorization token can't serve the request.",
    );
  });
  it("a socket failure becomes a BackendConnectionError", () => {
    const socket = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(
      errors.wrapError(
        Object.assign(new Error("request failed"), { cause: socket }),
        "read of task t",
      ),
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
  it.each([408, 500, 503])(
    "a write answered HTTP %i may have landed: OutcomeUnknownError, never retried blindly",
    (status) => {
      const error = writeErrors.wrapError(cosmosError(status), "write of task t");
      expect(error).toBeInstanceOf(OutcomeUnknownError);
      expect(writeErrors.isRetryable(error)).toBe(false);
      expect(errors.isRetryable(error)).toBe(false);
      // The same status on a read is only a failure (408 and 503 transient).
      expect(errors.wrapError(cosmosError(status), "read of task t")).toBeInstanceOf(BackendError);
    },
  );
  it("a refused connection is nothing sent, unless the SDK made an earlier attempt that was not refused", () => {
    const refused = (failedAttempts: { statusCode: unknown }[]) =>
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
        code: "ECONNREFUSED",
        diagnostics: { clientSideRequestStatistics: { retryDiagnostics: { failedAttempts } } },
      });
    expect(writeErrors.wrapError(refused([]), "write of task x")).toBeInstanceOf(
      BackendUnavailableError,
    );
    expect(
      writeErrors.wrapError(refused([{ statusCode: "ECONNREFUSED" }]), "write of task x"),
    ).toBeInstanceOf(BackendUnavailableError);
    const afterTimeout = writeErrors.wrapError(
      refused([{ statusCode: "TimeoutError" }]),
      "write of task x",
    );
    expect(afterTimeout).toBeInstanceOf(OutcomeUnknownError);
    expect(
      errors.wrapError(refused([{ statusCode: "TimeoutError" }]), "read of task x"),
    ).not.toBeInstanceOf(BackendUnavailableError);
  });
  it("a document over Cosmos's 2 MB limit (HTTP 413) is a ValueTooLargeError, on writes too", () => {
    expect(writeErrors.wrapError(cosmosError(413), "add to set s")).toBeInstanceOf(
      ValueTooLargeError,
    );
  });
});
