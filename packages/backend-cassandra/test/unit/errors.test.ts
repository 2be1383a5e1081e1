// How driver failures map to core's errors and to isRetryable (the driver's own error classes).
import {
  BackendConnectionError,
  BackendError,
  BackendUnavailableError,
  ContentionError,
  OutcomeUnknownError,
} from "@resultstore/core";
import cassandra from "cassandra-driver";
import { describe, expect, it } from "vitest";
import { beforeSending, errors, lightweightTransaction } from "../../src/errors.js";

const { errors: driver, types } = cassandra;
const response = (code: number, extra: object = {}) =>
  Object.assign(new driver.ResponseError(code, `server said ${code}`), extra);
const writeTimeout = (writeType: string) =>
  response(types.responseErrorCodes.writeTimeout, { writeType });
/** A socket closed under a request: the driver says whether it had been written. */
const socketClosed = (written: boolean) =>
  // The driver throws its (abstract in the typings) DriverError; a plain Error carries the same flags.
  Object.assign(new Error("Socket was closed"), {
    isSocketError: true,
    ...(written ? {} : { requestNotWritten: true }),
  });
const failing = (error: unknown) => () => Promise.reject(error);
const lwt = (error: unknown) =>
  lightweightTransaction("incr of counter c", failing(error)).catch((e: unknown) =>
    errors.wrapError(e, "incr of counter c"),
  );

describe("driver errors", () => {
  it("a server refusal is a BackendError naming the operation and the code", () => {
    const wrapped = errors.wrapError(response(types.responseErrorCodes.invalid), "read of task t");
    expect(wrapped).toBeInstanceOf(BackendError);
    expect(wrapped.message).toBe(
      "[resultstore] [cassandra] Read of task t failed (code 8704): server said 8704",
    );
    expect(errors.isRetryable(wrapped)).toBe(false);
  });
  it("timeouts and overload are retryable; rejected credentials are not", () => {
    const timedOut = new driver.NoHostAvailableError({
      "127.0.0.1:9042": new driver.OperationTimedOutError("timed out", "127.0.0.1:9042"),
    });
    expect(errors.wrapError(timedOut, "read of task t")).toBeInstanceOf(BackendConnectionError);
    expect(errors.isRetryable(timedOut)).toBe(true);
    expect(errors.isRetryable(response(types.responseErrorCodes.overloaded))).toBe(true);
    const auth = errors.wrapError(
      new driver.AuthenticationError("bad password"),
      "provisioning of table t",
    );
    expect(auth).toBeInstanceOf(BackendConnectionError);
    expect(errors.isRetryable(auth)).toBe(false);
    expect(errors.isRetryable(new ContentionError("cassandra", "write of task t", 64))).toBe(true);
  });
  it("a Paxos timeout (writeType CAS) is an OutcomeUnknownError that is never retryable", () => {
    const wrapped = errors.wrapError(writeTimeout("CAS"), "write of task t");
    expect(wrapped).toBeInstanceOf(OutcomeUnknownError);
    expect(errors.isRetryable(wrapped)).toBe(false);
    expect(errors.isRetryable(writeTimeout("CAS"))).toBe(false);
    // Protocol v5's CAS_WRITE_UNKNOWN, should a driver pass it through.
    expect(errors.wrapError(response(0x1700), "incr of counter c")).toBeInstanceOf(
      OutcomeUnknownError,
    );
    // Paxos v2: a replica that cannot take the proposal answers a failure (writeType CAS).
    const casFailure = response(types.responseErrorCodes.writeFailure, { writeType: "CAS" });
    expect(errors.wrapError(casFailure, "write of task t")).toBeInstanceOf(OutcomeUnknownError);
    expect(errors.isRetryable(casFailure)).toBe(false);
    // A plain write's timeout (idempotent statements only) stays retryable.
    expect(errors.wrapError(writeTimeout("SIMPLE"), "removal of task t")).not.toBeInstanceOf(
      OutcomeUnknownError,
    );
    expect(errors.isRetryable(writeTimeout("SIMPLE"))).toBe(true);
  });
  it("a lightweight transaction whose answer is lost after sending has an unknown outcome", async () => {
    for (const error of [
      writeTimeout("CAS"),
      response(types.responseErrorCodes.writeFailure, { writeType: "CAS" }), // Paxos v2
      writeTimeout("SIMPLE"), // the commit phase: the proposal was accepted
      writeTimeout("BATCH"),
      new driver.OperationTimedOutError("client timeout", "127.0.0.1:9042"),
      socketClosed(true),
      new driver.NoHostAvailableError({ "127.0.0.1:9042": socketClosed(true) }),
    ]) {
      const wrapped = await lwt(error);
      expect(wrapped).toBeInstanceOf(OutcomeUnknownError);
      expect(wrapped.message).toMatch(
        /^\[resultstore\] \[cassandra\] Incr of counter c .*\(the lightweight transaction may or may not have been applied\)$/,
      );
      expect(errors.isRetryable(wrapped)).toBe(false);
    }
    // Unavailable: refused before the first Paxos phase, so known not to have applied.
    const unavailable = await lwt(
      new driver.NoHostAvailableError({
        "127.0.0.1:9042": response(types.responseErrorCodes.unavailableException),
      }),
    );
    expect(unavailable).toBeInstanceOf(BackendConnectionError);
    expect(unavailable).not.toBeInstanceOf(OutcomeUnknownError);
    // A refusal is a refusal.
    expect(await lwt(response(types.responseErrorCodes.invalid))).toBeInstanceOf(BackendError);
  });
  it("no host tried, or none that got the request, is a BackendUnavailableError; a host that did is not", async () => {
    const unsent = [
      new driver.NoHostAvailableError({}),
      new driver.NoHostAvailableError({ "127.0.0.1:9042": "Host considered as DOWN" }),
      new driver.NoHostAvailableError({
        "127.0.0.1:9042": new driver.BusyConnectionError("127.0.0.1:9042", 2048, 1),
        "127.0.0.2:9042": socketClosed(false),
        "127.0.0.3:9042": new Error("No connection available"),
      }),
    ];
    for (const error of unsent) {
      expect(errors.wrapError(error, "incr of counter c")).toBeInstanceOf(BackendUnavailableError);
      expect(errors.isRetryable(errors.wrapError(error, "incr of counter c"))).toBe(true);
      // Also through the transaction's wrapper: nothing was sent, so nothing is unknown.
      expect(await lwt(error)).toBeInstanceOf(BackendUnavailableError);
    }
    const sent = [
      new driver.NoHostAvailableError({
        "127.0.0.1:9042": new driver.OperationTimedOutError("timed out", "127.0.0.1:9042"),
        "127.0.0.2:9042": "Host considered as DOWN",
      }),
      new driver.NoHostAvailableError({ "127.0.0.1:9042": socketClosed(true) }),
      new driver.NoHostAvailableError({
        "127.0.0.1:9042": response(types.responseErrorCodes.unavailableException),
      }),
    ];
    // Rejected credentials while connecting: nothing was sent, but retrying will not help.
    const rejected = new driver.NoHostAvailableError({
      "127.0.0.1:9042": new driver.AuthenticationError("bad password"),
    });
    expect(errors.wrapError(rejected, "provisioning of table t")).not.toBeInstanceOf(
      BackendUnavailableError,
    );
    expect(beforeSending(rejected, "provisioning of table t")).not.toBeInstanceOf(
      BackendUnavailableError,
    );
    for (const error of sent) {
      expect(errors.wrapError(error, "read of task t")).not.toBeInstanceOf(BackendUnavailableError);
    }
  });
  it("a connection failure before the call's own request (connect, schema) is a BackendUnavailableError", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
    });
    const connect = new driver.NoHostAvailableError({
      "127.0.0.1:1": new driver.OperationTimedOutError("Connection timeout", "127.0.0.1:1"),
      "127.0.0.2:1": refused,
    });
    expect(beforeSending(connect, "provisioning of table t")).toBeInstanceOf(
      BackendUnavailableError,
    );
    const auth = beforeSending(
      new driver.AuthenticationError("bad password"),
      "provisioning of table t",
    );
    expect(auth).toBeInstanceOf(BackendConnectionError);
    expect(auth).not.toBeInstanceOf(BackendUnavailableError);
    expect(
      beforeSending(response(types.responseErrorCodes.invalid), "provisioning of table t"),
    ).toBeInstanceOf(BackendError);
  });
});
