import { describe, expect, it } from "vitest";
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

  it("names the package to install for a backend that is missing, without the secret", async () => {
    const error = await createStore("cassandra://user:topsecret@h:9042").catch((e: unknown) => e);
    if (error instanceof ConfigurationError) {
      expect(error.message).toContain("@resultstore/backend-cassandra");
      expect(error.message).not.toContain("topsecret");
    } else {
      // The package is installed in this workspace: then createStore must have built a store.
      expect(error).toHaveProperty("backend");
    }
  });

  it("rejects an unknown scheme clearly", async () => {
    await expect(createStore("redis://h")).rejects.toThrow(/No backend for scheme "redis"/);
  });
});
