import { describe, expect, it } from "vitest";
import { loadBackend } from "../src/create.js";
import { ConfigurationError, createStore, sanitizeUrl, schemeOf } from "../src/index.js";

describe("URLs", () => {
  it("picks the backend from the scheme, as Celery does with a+b://", () => {
    expect(schemeOf("mongodb+srv://h/db")).toBe("mongodb");
    expect(schemeOf("elasticsearch+https://h:9200")).toBe("elasticsearch");
    expect(schemeOf("cosmosdbsql://:k@h")).toBe("cosmosdbsql");
    expect(() => schemeOf("not a url")).toThrow(ConfigurationError);
  });

  it("never shows a password or key", () => {
    expect(sanitizeUrl("mongodb://user:s3cret@h:27017/db")).not.toContain("s3cret");
    expect(sanitizeUrl("cosmosdbsql://:C2y6yDjf5@h:8081")).not.toContain("C2y6yDjf5");
    expect(sanitizeUrl("consul://h:8500/?token=abc&x=1")).not.toContain("abc");
    expect(sanitizeUrl("dynamodb://AKIA:wJalr%20@[bad")).not.toContain("wJalr");
    expect(sanitizeUrl("consul://h:99999/x?token=s3cret&a=1")).not.toContain("s3cret");
    expect(sanitizeUrl("cosmosdbsql://:ab/cd+ef==@h:99999")).not.toContain("cd+ef");
  });

  it("names the package (and driver) to install when a backend is missing", async () => {
    const notInstalled = async () => {
      throw Object.assign(new Error("Cannot find package"), { code: "ERR_MODULE_NOT_FOUND" });
    };
    const error = await loadBackend(
      "@resultstore/backend-cassandra",
      "cassandra",
      notInstalled,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain(
      "npm install @resultstore/backend-cassandra cassandra-driver",
    );
  });

  it("rejects a package that is not a backend", async () => {
    await expect(loadBackend("x", "consul", async () => ({}))).rejects.toThrow(
      /does not export fromUrl/,
    );
  });

  it("rejects an unknown scheme clearly", async () => {
    await expect(createStore("redis://h")).rejects.toThrow(/No backend for scheme "redis"/);
  });
});
