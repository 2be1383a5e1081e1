// URL and option handling: no server needed.

import { Agent } from "node:https";
import type { CosmosClient } from "@azure/cosmos";
import { configurationErrorText, SECRET_MARK, UNENCODED_SECRETS } from "@resultstore/conformance";
import { ConfigurationError } from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { optionsFromUrl, resolveConfig } from "../../src/config.js";
import { fromUrl } from "../../src/index.js";

const KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const ENCODED = encodeURIComponent(KEY);

describe("cosmosdbsql:// URLs", () => {
  it("takes the key from the password (percent-decoded) and ignores the user name", () => {
    expect(
      optionsFromUrl(`cosmosdbsql://ignored:${ENCODED}@acct.documents.azure.com`),
    ).toMatchObject({
      endpoint: "https://acct.documents.azure.com:443/",
      key: KEY,
    });
  });
  it("uses https on every port by default, and http when asked (Celery: http off 443)", () => {
    expect(optionsFromUrl(`cosmosdbsql://:${ENCODED}@127.0.0.1:8081`).endpoint).toBe(
      "https://127.0.0.1:8081/",
    );
    expect(optionsFromUrl(`cosmosdbsql://:${ENCODED}@127.0.0.1:8081`, "http").endpoint).toBe(
      "http://127.0.0.1:8081/",
    );
  });
  it("passes other options through", () => {
    const backend = fromUrl(`cosmosdbsql://:k@h`, { databaseName: "db", namespace: "n1" });
    expect([backend.databaseName, backend.containerName]).toEqual(["db", "celerycol_n1"]);
  });
  it.each([
    ["another scheme", `mongodb://:${ENCODED}@h`],
    ["no host", "cosmosdbsql://"],
    ["a malformed URL", `cosmosdbsql://:${KEY}@h:notaport`],
  ])("refuses %s with a ConfigurationError that never shows the key", (_, url) => {
    let error: unknown;
    try {
      fromUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(String((error as Error).message)).not.toContain("C2y6yDjf5");
  });
  it("refuses a URL without a key unless a credential is given", () => {
    expect(() => fromUrl("cosmosdbsql://h")).toThrow(/key/);
    expect(() =>
      fromUrl("cosmosdbsql://h", { aadCredentials: { getToken: async () => null } }),
    ).not.toThrow();
  });
  it("refuses an unknown protocol", () => {
    expect(() => fromUrl("cosmosdbsql://:k@h", { protocol: "ftp" as "http" })).toThrow(
      ConfigurationError,
    );
  });
});

describe("options", () => {
  const base = { endpoint: "https://h:443/", key: "k" };
  it("defaults to Celery's names and retry settings", () => {
    expect(resolveConfig(base)).toEqual({
      source: {
        kind: "own",
        options: {
          endpoint: "https://h:443/",
          key: "k",
          consistencyLevel: "Session",
          connectionPolicy: { retryOptions: { maxRetryAttemptCount: 9, maxWaitTimeInSeconds: 30 } },
        },
        ca: undefined,
      },
      databaseName: "celerydb",
      containerName: "celerycol",
      provisioning: "auto",
      etagCacheSize: 1000,
    });
  });
  it("uses a caller's client as is, disposing it only when asked", () => {
    const client = {} as CosmosClient;
    expect(resolveConfig({ client }).source).toEqual({ kind: "given", client, dispose: false });
    expect(resolveConfig({ client, closeClient: true }).source).toMatchObject({ dispose: true });
  });
  it("trusts `ca` in an agent of its own, not when the caller passes an agent", () => {
    const agent = new Agent();
    expect(resolveConfig({ ...base, ca: "PEM" }).source).toMatchObject({ ca: "PEM" });
    expect(resolveConfig({ ...base, ca: "PEM", agent }).source).toMatchObject({
      ca: undefined,
      options: { agent },
    });
  });
  it("maps a namespace to its own container", () => {
    expect(resolveConfig({ ...base, namespace: "tenant-1" }).containerName).toBe(
      "celerycol_tenant-1",
    );
  });
  it.each([
    [
      "an unknown consistency level (as Celery's ImproperlyConfigured)",
      { consistencyLevel: "Sessions" },
    ],
    ["a namespace with a slash", { namespace: "a/b" }],
    ["a container name with a #", { containerName: "x#" }],
    ["a negative retry count", { maxRetryAttempts: -1 }],
    ["an unknown provisioning mode", { provisioning: "sometimes" }],
  ])("refuses %s", (_, extra) => {
    expect(() => resolveConfig({ ...base, ...(extra as object) })).toThrow(ConfigurationError);
  });
  it("needs an endpoint unless a client is given", () => {
    expect(() => resolveConfig({ key: "k" })).toThrow(/endpoint/);
  });
});

describe("raw (unencoded) keys", () => {
  it("accepts a key pasted without percent-encoding", () => {
    expect(optionsFromUrl(`cosmosdbsql://:${KEY}@acct.documents.azure.com:443`)).toMatchObject({
      endpoint: "https://acct.documents.azure.com:443/",
      key: KEY,
    });
  });
});

describe("keys pasted unencoded", () => {
  it("reads the key up to the last @, whatever it holds", () => {
    for (const secret of UNENCODED_SECRETS) {
      expect(optionsFromUrl(`cosmosdbsql://:${secret}@127.0.0.1:8081`)).toEqual({
        endpoint: "https://127.0.0.1:8081/",
        key: secret,
      });
    }
  });

  it("never shows the key in an error about the rest of the URL", () => {
    for (const secret of UNENCODED_SECRETS) {
      for (const url of [`cosmosdbsql://:${secret}@127.0.0.1:80x1`, `cosmos://:${secret}@h:1`]) {
        expect(configurationErrorText(() => fromUrl(url))).not.toContain(SECRET_MARK);
      }
    }
  });
});

describe("a stray % in the URL's key", () => {
  it("is taken literally: unencoded keys just work (encodeUserinfo)", () => {
    expect(() => fromUrl("cosmosdbsql://:bad%zzkey@127.0.0.1:8081")).not.toThrow();
  });
});
