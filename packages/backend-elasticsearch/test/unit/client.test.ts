// DB-free checks of the client adapter: both clients' response shapes and error classes, built
// with the real packages (their own error constructors), no server involved.
import { errors as esErrors } from "@elastic/elasticsearch";
import { errors as osErrors } from "@opensearch-project/opensearch";
import {
  BackendConnectionError,
  BackendError,
  BackendUnavailableError,
  ContentionError,
  OutcomeUnknownError,
} from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { IndexApi, toResponse } from "../../src/client.js";
import { resolveConfig } from "../../src/config.js";
import { errors } from "../../src/errors.js";
import type { SearchClientLike } from "../../src/types.js";

/** The index API over `client`, as a backend built with `options` has it. */
const adaptClient = (client: SearchClientLike, options = {}) =>
  new IndexApi(client, resolveConfig(options));

const esResponse = (statusCode: number, body: unknown) =>
  new esErrors.ResponseError({
    body,
    statusCode,
    headers: {},
    warnings: null,
    meta: {} as never,
  });
const osResponse = (statusCode: number, body: unknown) =>
  new osErrors.ResponseError({
    body,
    statusCode,
    headers: {},
    warnings: null,
    meta: {} as never,
  });

describe("response shapes", () => {
  it("Elasticsearch 8+ with meta: true, OpenSearch and ES 7.x: { body, statusCode }", () => {
    expect(toResponse({ body: { found: false }, statusCode: 404, headers: {} })).toEqual({
      statusCode: 404,
      body: { found: false },
      attempts: 0,
    });
  });
  it("a bare body (Elasticsearch 8+ without meta) counts as success", () => {
    expect(toResponse({ _id: "x", found: true })).toEqual({
      statusCode: 200,
      body: { _id: "x", found: true },
      attempts: 0,
    });
  });
  it("a missing statusCode with a body reads as 200", () => {
    expect(toResponse({ body: {}, statusCode: null }).statusCode).toBe(200);
  });
});

describe("the adapter", () => {
  it("asks for meta, passes ignore, marks string bodies as JSON", async () => {
    const calls: [unknown, Record<string, unknown> | undefined][] = [];
    const client: SearchClientLike = {
      transport: {
        request: async (params, options) => {
          calls.push([params, options]);
          return { body: { ok: true }, statusCode: 201 };
        },
      },
      close: async () => undefined,
    };
    const engine = adaptClient(client, { retryOnTimeout: true });
    const response = await engine.request(
      { method: "PUT", path: "/i/_create/x", body: "{}" },
      { operation: "write of task x", ignore: [409], maxRetries: 0 },
    );
    expect(response).toEqual({ statusCode: 201, body: { ok: true }, attempts: 0 });
    expect(calls[0]?.[1]).toEqual({
      retryOnTimeout: true,
      ignore: [409],
      meta: true,
      maxRetries: 0,
      headers: { "content-type": "application/json" },
    });
    // retryOnTimeout goes only on clients the backend builds: a caller's client keeps its own.
    await adaptClient(client, { client, retryOnTimeout: true }).request(
      { method: "GET", path: "/i/_doc/x" },
      { operation: "read of task x" },
    );
    expect(calls[1]?.[1]).toEqual({ ignore: [], meta: true });
  });

  it("turns driver errors into typed errors that keep the cause", async () => {
    const failing = (error: unknown): SearchClientLike => ({
      transport: {
        request: async () => {
          throw error;
        },
      },
      close: async () => undefined,
    });
    const refused = new esErrors.ConnectionError("connect ECONNREFUSED 127.0.0.1:9200");
    const read = { operation: "read of task x" };
    await expect(
      adaptClient(failing(refused)).request({ method: "GET", path: "/i/_doc/x" }, read),
    ).rejects.toBeInstanceOf(BackendConnectionError);
    const mapping = esResponse(400, {
      error: { type: "mapper_parsing_exception", reason: "bad" },
    });
    // The label names the operation the call is part of (BACKEND.md), never the REST path.
    await expect(
      adaptClient(failing(mapping)).request({ method: "PUT", path: "/i/_doc/x" }, read),
    ).rejects.toThrow(
      /^\[resultstore\] \[elasticsearch\] Read of task x failed \(HTTP 400\): mapper_parsing_exception: bad$/,
    );
  });
});

describe("what a failure says about the request (BACKEND-COMMON: unsent, outcome unknown)", () => {
  const failing = (error: unknown): SearchClientLike => ({
    transport: {
      request: async () => {
        throw error;
      },
    },
    close: async () => undefined,
  });
  const read = { method: "GET", path: "/i/_doc/x" };
  const write = { method: "PUT", path: "/i/_doc/x", body: "{}" };
  const failure = (error: unknown, mutates: boolean) =>
    adaptClient(failing(error))
      .request(mutates ? write : read, { operation: "write of task x", mutates })
      .catch((caught: unknown) => caught);
  // The transport's result on its errors: `meta.attempts` counts the client's re-sends.
  const sent = (attempts: number) => ({ meta: { attempts } }) as never;

  for (const [client, driver, make] of [
    ["@elastic/elasticsearch", esErrors, esResponse],
    ["@opensearch-project/opensearch", osErrors, osResponse],
  ] as const) {
    it(`${client}: a refused connection on the only attempt sent nothing, read or write`, async () => {
      for (const mutates of [false, true]) {
        const error = await failure(
          new driver.ConnectionError("connect ECONNREFUSED 127.0.0.1:9200", sent(0)),
          mutates,
        );
        expect(error).toBeInstanceOf(BackendUnavailableError);
        expect(errors.isRetryable(error)).toBe(true);
      }
      const none = await failure(new driver.NoLivingConnectionsError("none", sent(0)), true);
      expect(none).toBeInstanceOf(BackendUnavailableError);
    });
    it(`${client}: a write that may have been sent is outcome-unknown, never retryable`, async () => {
      for (const error of [
        new driver.ConnectionError("connect ECONNREFUSED 127.0.0.1:9200", sent(2)), // after re-sends
        new driver.ConnectionError("socket hang up", sent(0)),
        new driver.TimeoutError("Request timed out", sent(0)),
        make(500, { error: { type: "x", reason: "y" } }),
        make(504, {}),
      ]) {
        const wrapped = await failure(error, true);
        expect(wrapped, String(error)).toBeInstanceOf(OutcomeUnknownError);
        expect(errors.isRetryable(wrapped)).toBe(false);
      }
    });
    it(`${client}: the same failures of a read are plain, retryable connection errors`, async () => {
      for (const error of [
        new driver.ConnectionError("connect ECONNREFUSED 127.0.0.1:9200", sent(2)),
        new driver.TimeoutError("Request timed out", sent(0)),
      ]) {
        const wrapped = await failure(error, false);
        expect(wrapped).toBeInstanceOf(BackendConnectionError);
        expect(wrapped).not.toBeInstanceOf(BackendUnavailableError);
        expect(errors.isRetryable(wrapped)).toBe(true);
      }
    });
    it(`${client}: 429 and 503 refuse before anything runs: definite and retryable`, async () => {
      for (const status of [429, 503]) {
        const wrapped = await failure(make(status, {}), true);
        expect(wrapped).not.toBeInstanceOf(OutcomeUnknownError);
        expect(errors.isRetryable(wrapped)).toBe(true);
      }
    });
  }
});

describe("isRetryable (Celery's exception_safe_to_retry, narrowed)", () => {
  for (const [client, make, driver] of [
    ["@elastic/elasticsearch", esResponse, esErrors],
    ["@opensearch-project/opensearch", osResponse, osErrors],
  ] as const) {
    it(`${client}: throttling, gateway errors and transport failures are transient`, () => {
      for (const status of [429, 502, 503, 504]) {
        expect(errors.isRetryable(make(status, {})), String(status)).toBe(true);
        expect(
          errors.isRetryable(errors.wrapError(make(status, {}), "op")),
          `wrapped ${status}`,
        ).toBe(true);
      }
      expect(errors.isRetryable(new driver.ConnectionError("reset", undefined as never))).toBe(
        true,
      );
      expect(errors.isRetryable(new driver.TimeoutError("slow", undefined as never))).toBe(true);
    });
    it(`${client}: auth, bad requests, 404, 409 and 500 are not`, () => {
      for (const status of [400, 401, 403, 404, 409, 413, 500]) {
        expect(errors.isRetryable(make(status, {})), String(status)).toBe(false);
      }
    });
  }
  it("exhausted CAS rounds are safe to retry; other errors are not", () => {
    expect(errors.isRetryable(new ContentionError("elasticsearch", "write of task t", 64))).toBe(
      true,
    );
    expect(errors.isRetryable(new BackendError("elasticsearch", "x"))).toBe(false);
    expect(errors.isRetryable(new Error("x"))).toBe(false);
  });
});
