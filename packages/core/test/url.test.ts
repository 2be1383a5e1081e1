import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { loadBackend } from "../src/create.js";
import { ConfigurationError, createStore, parseUrl, sanitizeUrl, schemeOf } from "../src/index.js";

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

  it("keeps a secret containing / out of a malformed URL's error and its cause", () => {
    // Node's URL TypeError carries the raw URL in `input`; "/" in a secret makes the URL invalid.
    for (const url of [
      "dynamodb://AKIDEXAMPLE:wJalr/XUtnFEMI@127.0.0.1:8000",
      "mongodb://user:pa/ss9word@127.0.0.1:27017/db",
    ]) {
      const error = (() => {
        try {
          parseUrl(url, "test");
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(ConfigurationError);
      const everything = inspect(error, { depth: 10, showHidden: true });
      expect(everything).toContain("Malformed URL");
      expect(everything).toContain("ERR_INVALID_URL");
      for (const secret of ["XUtnFEMI", "wJalr", "ss9word"])
        expect(everything).not.toContain(secret);
    }
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
