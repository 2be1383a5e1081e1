// DB-free: Celery's URL form, key spelling and option validation.

import { configurationErrorText, SECRET_MARK, UNENCODED_SECRETS } from "@resultstore/conformance";
import { ConfigurationError } from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { optionsFromUrl, resolveConfig } from "../../src/config.js";
import { DynamoDBBackend, type DynamoDBBackendOptions, fromUrl } from "../../src/index.js";
import { itemKeys, pythonBytesRepr } from "../../src/records.js";

/** The item ids a backend with these options spells. */
const keysFor = (options: DynamoDBBackendOptions = {}) => itemKeys(resolveConfig(options));

describe("optionsFromUrl (Celery's dynamodb:// form)", () => {
  it("a localhost or IP host means a local endpoint in us-east-1", () => {
    expect(optionsFromUrl("dynamodb://key:secret@127.0.0.1:8000/results")).toEqual({
      credentials: { accessKeyId: "key", secretAccessKey: "secret" },
      endpoint: "http://127.0.0.1:8000",
      region: "us-east-1",
      table: "results",
    });
    expect(optionsFromUrl("dynamodb://localhost:8001").endpoint).toBe("http://localhost:8001");
    expect(optionsFromUrl("dynamodb://[::1]:8000").endpoint).toBe("http://[::1]:8000");
    expect(optionsFromUrl("dynamodb://localhost").endpoint).toBe("http://localhost:8000");
  });

  it("any other host is the AWS region; no userinfo means the SDK's credential chain", () => {
    expect(optionsFromUrl("dynamodb://@eu-west-1/celery")).toEqual({
      region: "eu-west-1",
      table: "celery",
    });
    expect(optionsFromUrl("dynamodb://")).toEqual({});
  });

  it("percent-encoded secrets (AWS secrets hold / and +) are decoded", () => {
    const options = optionsFromUrl("dynamodb://AKIA:ab%2Fc%2Bd@us-east-1/t");
    expect(options.credentials).toEqual({ accessKeyId: "AKIA", secretAccessKey: "ab/c+d" });
  });

  it("reads read, write and ttl_seconds", () => {
    const options = optionsFromUrl("dynamodb://@us-east-1/t?read=5&write=10&ttl_seconds=-1");
    expect(options).toMatchObject({ readCapacityUnits: 5, writeCapacityUnits: 10, ttlSeconds: -1 });
  });

  it("refuses half credentials, unknown parameters and bad numbers, never echoing the secret", () => {
    const bad = [
      "dynamodb://onlykey@us-east-1/t",
      "dynamodb://:s3cr3t@us-east-1/t",
      "dynamodb://k:s3cr3t@us-east-1/t?reads=1",
      "dynamodb://k:s3cr3t@us-east-1/t?read=zero",
      "dynamodb://k:s3cr3t@us-east-1/t?ttl_seconds=-2",
      "mongodb://k:s3cr3t@host/t",
    ];
    for (const url of bad) {
      expect(() => optionsFromUrl(url), url).toThrow(ConfigurationError);
      try {
        optionsFromUrl(url);
      } catch (error) {
        expect(String((error as Error).message)).not.toContain("s3cr3t");
      }
    }
  });

  it("explicit options win over the URL; the namespace picks <table>_<namespace>", () => {
    const backend = fromUrl("dynamodb://k:s@127.0.0.1:8000/base", {
      namespace: "ns1",
      endpoint: "http://127.0.0.1:9999",
    });
    expect(backend.table).toBe("base_ns1");
    expect(fromUrl("dynamodb://k:s@127.0.0.1:8000").table).toBe("celery");
  });
});

describe("option validation", () => {
  it("rejects bad option types and table names with ConfigurationError", () => {
    expect(() => new DynamoDBBackend({ namespace: "a/b" })).toThrow(ConfigurationError);
    expect(() => new DynamoDBBackend({ table: "x" })).toThrow(ConfigurationError);
    expect(() => new DynamoDBBackend({ keyFormat: "raw" as never })).toThrow(ConfigurationError);
    expect(() => new DynamoDBBackend({ ttlSeconds: 0 })).toThrow(ConfigurationError);
    expect(() => new DynamoDBBackend({ region: 42 as never })).toThrow(ConfigurationError);
  });
});

describe("key spelling", () => {
  it("matches Python's str(bytes) exactly (values printed by CPython)", () => {
    expect(pythonBytesRepr("abc")).toBe("b'abc'");
    expect(pythonBytesRepr("it's")).toBe(`b"it's"`);
    expect(pythonBytesRepr(`quote"both'`)).toBe(`b'quote"both\\''`);
    expect(pythonBytesRepr("héllo-✓")).toBe("b'h\\xc3\\xa9llo-\\xe2\\x9c\\x93'");
    expect(pythonBytesRepr("back\\slash")).toBe("b'back\\\\slash'");
    expect(pythonBytesRepr("tab\tx")).toBe("b'tab\\tx'");
  });

  it("builds Celery's task, group and counter keys, with global_keyprefix", () => {
    const celery = keysFor();
    expect(celery.task("T")).toBe("b'celery-task-meta-T'");
    expect(celery.group("G")).toBe("b'celery-taskset-meta-G'");
    expect(celery.counter("chord-unlock-G")).toBe("b'chord-unlock-G'");
    expect(keysFor({ keyPrefix: "x" }).task("T")).toBe("b'x_celery-task-meta-T'");
    expect(keysFor({ keyPrefix: "x:" }).task("T")).toBe("b'x:celery-task-meta-T'");
    expect(keysFor({ keyFormat: "plain" }).task("T")).toBe("celery-task-meta-T");
  });

  it("gives counters and sets ids no task or group has, and each key its own", () => {
    const keys = keysFor({ keyPrefix: "x" });
    expect(keys.counter("celery-task-meta-T")).toBe("b'x_resultstore-counter-celery-task-meta-T'");
    expect(keys.counter("celery-taskset-meta-G")).toBe(
      "b'x_resultstore-counter-celery-taskset-meta-G'",
    );
    expect(keys.set("chord-members-G")).toBe("b'x_resultstore-set-chord-members-G'");
    const ids = ["T", "celery-task-meta-T", "resultstore-counter-T", "resultstore-set-T"];
    const spelled = [
      ...ids.map((id) => keys.task(id)),
      ...ids.map((id) => keys.group(id)),
      ...ids.map((id) => keys.counter(id)),
      ...ids.map((id) => keys.set(id)),
      keys.counter("resultstore-counter-celery-task-meta-T"),
    ];
    expect(new Set(spelled).size).toBe(spelled.length);
  });
});

describe("secrets pasted unencoded", () => {
  it("reads the key pair up to the last @, so no part of the secret becomes host, table or query", () => {
    for (const secret of UNENCODED_SECRETS) {
      const url = `dynamodb://AKIDEXAMPLE:${secret}@127.0.0.1:8000/tbl`;
      expect(optionsFromUrl(url)).toMatchObject({
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: secret },
        endpoint: "http://127.0.0.1:8000",
        table: "tbl",
      });
    }
  });

  it("never shows the access key id or the secret in an error about the rest of the URL", () => {
    for (const secret of UNENCODED_SECRETS) {
      for (const url of [
        `dynamodb://AKIDEXAMPLE:${secret}@127.0.0.1:8000/x`, // bad table name
        `dynamodb://AKIDEXAMPLE:${secret}@127.0.0.1:8000/tbl?nope=1`, // unknown parameter
        `dynamodb://AKIDEXAMPLE:${secret}@127.0.0.1:80x0/tbl`, // bad port
      ]) {
        const text = configurationErrorText(() => fromUrl(url));
        expect(text).not.toContain(SECRET_MARK);
        expect(text).not.toContain("AKIDEXAMPLE");
      }
    }
  });
});

describe("a stray % in the URL", () => {
  it("is a ConfigurationError naming the part, never a URIError", () => {
    for (const url of ["dynamodb://localhost:8000/tab%zzle"]) {
      expect(() => fromUrl(url), url).toThrow(ConfigurationError);
      expect(() => fromUrl(url), url).toThrow(/"%"|Malformed/);
    }
  });
});
