import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  assertUserinfoEncoded,
  decodeUrlPart,
  encodeUserinfo,
  parseUrl,
  sanitizeUrl,
  schemeOf,
} from "../src/backend.js";
import { loadBackend } from "../src/create.js";
import { ConfigurationError, createStore, MemoryBackend } from "../src/index.js";

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

  it("masks a user part whose password holds / ? # or @ unencoded, up to the last @", () => {
    // Parsed as a URL, "AKID:12/S3CR@h" is host AKID, port 12 and a path holding the secret.
    for (const secret of ["12/S3CR", "ab?S3CR", "ab#S3CR", "ab@cd/S3CR", "1?xS3CR"]) {
      const masked = sanitizeUrl(`dynamodb://AKIDEXAMPLE:${secret}@127.0.0.1:8000/t`);
      expect(masked).toBe("dynamodb://***:***@127.0.0.1:8000/t");
    }
    expect(sanitizeUrl("consul://h:85x0/p?token=ab#S3CR&dc=a")).toBe(
      "consul://h:85x0/p?token=***&dc=a",
    );
    expect(sanitizeUrl("consul://h:8500/p?dc=a")).toBe("consul://h:8500/p?dc=a");
    expect(sanitizeUrl("user:S3CR@host:1")).toBe("***:***@host:1"); // no scheme at all
  });

  it("encodes a pasted user part up to the last @, splitting the password at the first colon", () => {
    expect(encodeUserinfo("dynamodb://AK:ab/c@d:e@h:1/t")).toBe(
      "dynamodb://AK:ab%2Fc%40d%3Ae@h:1/t",
    );
    expect(encodeUserinfo("dynamodb://AK:ab%2Fc@h")).toBe("dynamodb://AK:ab%2Fc@h");
    expect(encodeUserinfo("dynamodb://h:1/t")).toBe("dynamodb://h:1/t");
  });

  it("refuses an @ after the host, naming no part of the password", () => {
    expect(() => assertUserinfoEncoded("mongodb://u:p%2Fw@h/db", "test")).not.toThrow();
    expect(() => assertUserinfoEncoded("mongodb://h/db?x=1", "test")).not.toThrow();
    const error = (() => {
      try {
        assertUserinfoEncoded("mongodb://u:12/S3CR@h/db", "test");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(inspect(error, { depth: 10, showHidden: true })).not.toContain("S3CR");
    expect(() => decodeUrlPart("50%zz", "password", "test")).toThrow(ConfigurationError);
  });

  it("masks the user part too: DynamoDB's is an access key id", () => {
    expect(sanitizeUrl("dynamodb://AKIAEXAMPLE:s3cret@127.0.0.1:8000/t")).toBe(
      "dynamodb://***:***@127.0.0.1:8000/t",
    );
    expect(sanitizeUrl("mongodb://admin@h:27017/db")).toBe("mongodb://***@h:27017/db");
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

describe("backends passed in (bundlers)", () => {
  const fakeBackend = (scheme: string) => ({
    schemes: [scheme],
    fromUrl: () => new MemoryBackend(),
  });

  it("uses the module that declares the URL's scheme, importing nothing by name", async () => {
    const mongo = fakeBackend("mongodb");
    const store = await createStore("mongodb+srv://u:p@h/db", {
      backends: [fakeBackend("dynamodb"), mongo],
    });
    expect(store.backend).toBeInstanceOf(MemoryBackend);
    await store.close();
  });

  it("refuses a URL none of the modules handles, naming the package to add", async () => {
    const error = await createStore("dynamodb://k:s3cret@h:8000", {
      backends: [fakeBackend("mongodb")],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain(
      'import * as dynamodb from "@resultstore/backend-dynamodb"',
    );
    expect((error as Error).message).not.toContain("s3cret");
  });

  it("refuses an entry that is not a backend module", async () => {
    await expect(createStore("mongodb://h", { backends: [{} as never] })).rejects.toThrow(
      /must be a backend package's module/,
    );
  });

  it("reads the URL from options too, with backends beside it", async () => {
    const store = await createStore({ url: "consul://h", backends: [fakeBackend("consul")] });
    expect(store.backend).toBeInstanceOf(MemoryBackend);
  });
});

describe("a missing module is named", () => {
  it("names the driver when the backend package is there but its driver is not", async () => {
    const driverMissing = async () => {
      throw Object.assign(
        new Error("Cannot find package '@aws-sdk/client-dynamodb' imported from /x/dist/store.js"),
        { code: "ERR_MODULE_NOT_FOUND" },
      );
    };
    const error = await loadBackend(
      "@resultstore/backend-dynamodb",
      "dynamodb",
      driverMissing,
    ).catch((e: unknown) => e);
    expect((error as Error).message).toContain(
      'the module "@aws-sdk/client-dynamodb" is missing: npm install @aws-sdk/client-dynamodb',
    );
  });

  it("names the backend package (and the bundle alternative) when it is missing", async () => {
    const packageMissing = async () => {
      throw Object.assign(
        new Error("Cannot find package '@resultstore/backend-mongo' imported from /x/create.js"),
        { code: "ERR_MODULE_NOT_FOUND" },
      );
    };
    const message = String(
      await loadBackend("@resultstore/backend-mongo", "mongodb", packageMissing).catch(
        (e: unknown) => (e as Error).message,
      ),
    );
    expect(message).toContain("npm install @resultstore/backend-mongo mongodb");
    expect(message).toContain("backends: [await import(");
  });
});
