// How SDK failures map to core's errors and to isRetryable (shapes as the AWS SDK throws them).
import {
  BackendConnectionError,
  BackendError,
  ContentionError,
  ValueTooLargeError,
} from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { CONDITION_FAILED, errors } from "../../src/errors.js";

const sdk = (name: string, status?: number, message = `${name} happened`) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

describe("SDK errors", () => {
  it("a refusal is a BackendError naming the operation and the SDK's error name", () => {
    const wrapped = errors.wrapError(sdk("AccessDeniedException", 400, "no"), "read of task t");
    expect(wrapped).toBeInstanceOf(BackendError);
    expect(wrapped.message).toBe(
      "[resultstore] [dynamodb] Read of task t failed (AccessDeniedException): no",
    );
  });
  it("throttling, 5xx, transport failures and lost races are retryable; a failed condition is not", () => {
    expect(errors.isRetryable(sdk("ThrottlingException", 400))).toBe(true);
    expect(errors.isRetryable(sdk("InternalFailure", 503))).toBe(true);
    const socket = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(errors.wrapError(socket, "x")).toBeInstanceOf(BackendConnectionError);
    expect(errors.isRetryable(socket)).toBe(true);
    expect(errors.isRetryable(new ContentionError("dynamodb", "write of t", 64))).toBe(true);
    expect(errors.isRetryable(sdk(CONDITION_FAILED, 400))).toBe(false);
  });
  it("an item that outgrew 400 KB is a ValueTooLargeError", () => {
    const big = sdk("ValidationException", 400, "Item size has exceeded the maximum allowed size");
    expect(errors.wrapError(big, "write of task t")).toBeInstanceOf(ValueTooLargeError);
  });
  it("`on` turns a failed condition into a result", async () => {
    const failing = () => Promise.reject(sdk(CONDITION_FAILED, 400));
    await expect(errors.guard("x", failing, errors.on([CONDITION_FAILED], false))).resolves.toBe(
      false,
    );
  });
});
