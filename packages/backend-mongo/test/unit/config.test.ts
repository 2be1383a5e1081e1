/** Options and URLs: no server needed (port 1 refuses at once). */

import { configurationErrorText, SECRET_MARK, UNENCODED_SECRETS } from "@resultstore/conformance";
import { ConfigurationError } from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { unsafeEngineWarning } from "../../src/client.js";
import { parseMongoUrl, resolveConfig } from "../../src/config.js";
import { fromUrl, MongoBackend } from "../../src/index.js";

describe("URLs and options (no server)", () => {
  it("parses Celery's URL forms", () => {
    expect(parseMongoUrl("mongodb://")).toEqual({
      url: "mongodb://localhost/",
      database: undefined,
      endpoint: { serverAddress: "localhost", serverPort: 27017 },
    });
    expect(
      parseMongoUrl("mongodb://u:p%40ss@h1:27018,h2:27019/results?replicaSet=rs0&authSource=admin"),
    ).toEqual({
      url: "mongodb://u:p%40ss@h1:27018,h2:27019/results?replicaSet=rs0&authSource=admin",
      database: "results",
      endpoint: { serverAddress: "h1", serverPort: 27018 }, // the first host, for telemetry
    });
    const srv = parseMongoUrl("mongodb+srv://cluster0.example.net/?retryWrites=true");
    expect(srv.database).toBeUndefined();
    expect(srv.endpoint).toEqual({ serverAddress: "cluster0.example.net" }); // SRV: no port of its own
  });
  it("names the database and collections as Celery does, or by namespace", () => {
    expect(resolveConfig({ url: "mongodb://h" })).toMatchObject({
      database: "celery",
      collections: {
        tasks: "celery_taskmeta",
        groups: "celery_groupmeta",
        counters: "celery_counters",
        sets: "celery_sets",
      },
    });
    expect(
      resolveConfig({
        url: "mongodb://h/fromurl",
        database: "explicit",
        namespace: "ns",
        taskmetaCollection: "tm",
        setsCollection: "chord_sets",
      }),
    ).toMatchObject({
      database: "explicit",
      collections: {
        tasks: "tm",
        groups: "ns_groupmeta",
        counters: "ns_counters",
        sets: "chord_sets",
      },
    });
  });
  it("refuses bad URLs and options with ConfigurationError, never echoing the password", () => {
    const bad = () => new MongoBackend({ url: "mongodb://user:hunter2@h:notaport/db" });
    expect(bad).toThrow(ConfigurationError);
    expect(bad).not.toThrow(/hunter2/);
    expect(() => new MongoBackend({ url: "redis://h" })).toThrow(ConfigurationError);
    expect(() => new MongoBackend({})).toThrow(/Missing required option `url`/);
    expect(() => new MongoBackend({ url: "mongodb://h", namespace: "a$b" })).toThrow(
      ConfigurationError,
    );
    expect(() => new MongoBackend({ url: "mongodb://h", database: "a.b" })).toThrow(
      ConfigurationError,
    );
    expect(
      () => new MongoBackend({ url: "mongodb://h", resultSerializer: "pickle" as "json" }),
    ).toThrow(ConfigurationError);
  });
  it("classifies only transport failures as retryable", async () => {
    const backend = new MongoBackend({
      url: "mongodb://127.0.0.1:1",
      clientOptions: { serverSelectionTimeoutMS: 300 },
    });
    const error = await backend.read("x").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "CONNECTION" });
    expect(backend.isRetryable(error)).toBe(true);
    expect(backend.isRetryable(new Error("other"))).toBe(false);
    await backend.close();
    await backend.close();
  });
});

describe("fromUrl", () => {
  it("takes the URL; an option with a value wins, an undefined one leaves the URL's", async () => {
    const backend = fromUrl("mongodb://127.0.0.1:1/fromurl", {
      namespace: "ns",
      url: undefined,
      clientOptions: { serverSelectionTimeoutMS: 100 },
    });
    expect(backend).toBeInstanceOf(MongoBackend);
    await expect(backend.read("x")).rejects.toMatchObject({ code: "CONNECTION" });
    await backend.close();
  });
});

describe("passwords with characters that end a URL's host part", () => {
  it("parses them percent-encoded", () => {
    for (const secret of UNENCODED_SECRETS) {
      expect(
        parseMongoUrl(`mongodb://user:${encodeURIComponent(secret)}@127.0.0.1:27017/db`),
      ).toMatchObject({ database: "db" });
    }
  });

  it("refuses them unencoded with a typed error that shows no part of them", () => {
    for (const secret of UNENCODED_SECRETS) {
      const text = configurationErrorText(() =>
        fromUrl(`mongodb://user:${secret}@127.0.0.1:27017/db`),
      );
      expect(text).toContain("percent-encode");
      expect(text).not.toContain(SECRET_MARK);
    }
  });
});

describe("engines", () => {
  it("calls FerretDB 1.x unsafe, naming its version, and nothing else", () => {
    expect(unsafeEngineWarning("v1.24.0")).toMatch(/UNSAFE ENGINE: FerretDB 1\.24\.0 loses/);
    expect(unsafeEngineWarning("1.24.0")).toMatch(/FerretDB 1\.24\.0/);
    expect(unsafeEngineWarning(undefined)).toBeUndefined(); // MongoDB
    expect(unsafeEngineWarning("2.1.0")).toBeUndefined();
  });
});

describe("a stray % in the URL", () => {
  it("is a ConfigurationError naming the part, never a URIError", () => {
    for (const url of ["mongodb://127.0.0.1:27017/db%zz"]) {
      expect(() => fromUrl(url), url).toThrow(ConfigurationError);
      expect(() => fromUrl(url), url).toThrow(/"%"|Malformed/);
    }
  });
});
