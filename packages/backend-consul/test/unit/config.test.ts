import { configurationErrorText, SECRET_MARK, UNENCODED_SECRETS } from "@resultstore/conformance";
import { ConfigurationError } from "@resultstore/core";
import { mergeUrlOptions } from "@resultstore/core/backend";
import { describe, expect, it } from "vitest";
import { keyPrefixOf, optionsFromUrl, resolveConfig } from "../../src/config.js";
import { ConsulBackend, fromUrl } from "../../src/index.js";
import { writeOps } from "../../src/sessions.js";

const config = (url: string, options = {}) =>
  resolveConfig(mergeUrlOptions(optionsFromUrl(url), options));

describe("Celery's consul:// URL", () => {
  it("maps host, port and path like Celery (path → `<path>/` key prefix)", () => {
    const c = config("consul://consul.internal:8600/celery");
    expect(c.baseUrl).toBe("http://consul.internal:8600");
    expect(c.keyPrefix).toBe("celery/");
    expect(c.consistency).toBe("consistent");
  });

  it("gives no prefix for an empty path, and defaults the port to 8500", () => {
    expect(config("consul://h/").keyPrefix).toBe("");
    expect(config("consul://h").baseUrl).toBe("http://h:8500");
  });

  it("accepts Celery's one_client flag and our extras: consul+https, dc, consistency, token", () => {
    const c = config(
      "consul+https://h:8501/a/b?one_client=1&dc=eu1&consistency=stale&token=s3cret",
    );
    expect(c.baseUrl).toBe("https://h:8501");
    expect(c.keyPrefix).toBe("a/b/");
    expect(c.datacenter).toBe("eu1");
    expect(c.consistency).toBe("stale");
    expect(c.token).toBe("s3cret");
  });

  it("lets explicit options win over the URL", () => {
    const c = config("consul://h:1/x", { port: 2, prefix: "y", consistency: "default" });
    expect(c.baseUrl).toBe("http://h:2");
    expect(c.keyPrefix).toBe("y/");
    expect(c.consistency).toBe("default");
  });

  it("appends the namespace to the prefix", () => {
    expect(config("consul://h/celery", { namespace: "team-a/tests" }).keyPrefix).toBe(
      "celery/team-a/tests/",
    );
    expect(config("consul://h", { namespace: "ns" }).keyPrefix).toBe("ns/");
  });

  it.each([
    ["a trailing /", "consul://h/celery/"],
    ["an empty segment", "consul://h/a//b"],
    ["a .. segment", "consul://h/a/../b"],
    ["an encoded .. segment", "consul://h/a/%2E%2E/b"],
    ["a control character", "consul://h/a%0Ab"],
    ["another scheme", "redis://h/0"],
    ["a bad consistency", "consul://h?consistency=eventual"],
  ])("refuses a URL with %s", (_label, url) => {
    expect(() => fromUrl(url)).toThrow(ConfigurationError);
  });

  it("never puts the token or a password in a message", () => {
    let message = "";
    try {
      fromUrl("consul://user:hunter2@h:99999/x?token=s3cret");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/port/);
    expect(message).not.toMatch(/hunter2|s3cret/);
  });
});

describe("prefix and namespace validation", () => {
  it.each(["/abs", "a//b", "a/./b", "..", "x".repeat(300), "a?b", "a#b", "a\\b"])(
    "refuses %j",
    (bad) => {
      expect(() => keyPrefixOf(bad, undefined)).toThrow(ConfigurationError);
      expect(() => keyPrefixOf("", bad)).toThrow(ConfigurationError);
    },
  );

  it("accepts one trailing / in the prefix option", () => {
    expect(keyPrefixOf("celery/", undefined)).toBe("celery/");
  });

  it("refuses bad option values with typed errors", () => {
    expect(() => new ConsulBackend({ port: 0 })).toThrow(ConfigurationError);
    expect(() => new ConsulBackend({ scheme: "ftp" as "http" })).toThrow(ConfigurationError);
    expect(() => new ConsulBackend({ host: "a/b" })).toThrow(ConfigurationError);
    expect(() => new ConsulBackend({ maxCasAttempts: 0 })).toThrow(ConfigurationError);
  });
});

describe("the write transaction", () => {
  const entry = (session: string | null) => ({ key: "k", value: "{}", modifyIndex: 7, session });

  it("creates with check-not-exists, updates with check-index", () => {
    expect(writeOps("k", null, null, "v")).toEqual([
      { verb: "check-not-exists", key: "k" },
      { verb: "set", key: "k", value: "v" },
    ]);
    expect(writeOps("k", entry(null), "S", "v")).toEqual([
      { verb: "check-index", key: "k", index: 7 },
      { verb: "lock", key: "k", value: "v", session: "S" },
    ]);
  });

  it("keeps the holder with a plain set, moves the lock with unlock + lock, releases with unlock", () => {
    expect(writeOps("k", entry("S"), "S", "v").at(-1)).toEqual({
      verb: "set",
      key: "k",
      value: "v",
    });
    expect(writeOps("k", entry("OLD"), "NEW", "v").slice(1)).toEqual([
      { verb: "unlock", key: "k", session: "OLD" },
      { verb: "lock", key: "k", value: "v", session: "NEW" },
    ]);
    expect(writeOps("k", entry("OLD"), null, "v").slice(1)).toEqual([
      { verb: "unlock", key: "k", session: "OLD", value: "v" },
    ]);
  });
});

describe("a token holding characters that end a URL's query value", () => {
  it("never shows any part of it in an error about the rest of the URL", () => {
    for (const secret of UNENCODED_SECRETS) {
      for (const url of [
        `consul://127.0.0.1:85x0/p?token=${secret}`, // bad port: URL parsing fails
        `consul://127.0.0.1:8500/p/?token=${secret}`, // trailing / in the path
        `cosul://127.0.0.1:8500/p?token=${secret}`, // another scheme
      ]) {
        expect(configurationErrorText(() => fromUrl(url))).not.toContain(SECRET_MARK);
      }
    }
  });
});

describe("a stray % in the URL", () => {
  it("is a ConfigurationError naming the part, never a URIError", () => {
    for (const url of ["consul://127.0.0.1:8500/pre%zzfix"]) {
      expect(() => fromUrl(url), url).toThrow(ConfigurationError);
      expect(() => fromUrl(url), url).toThrow(/"%"|Malformed/);
    }
  });
});
