// DB-free checks: Celery's URL form, index-name rules, option bounds.

import { configurationErrorText, SECRET_MARK, UNENCODED_SECRETS } from "@resultstore/conformance";
import { ConfigurationError } from "@resultstore/core";
import { describe, expect, it } from "vitest";
import { parseCeleryUrl, resolveConfig, validateIndexName } from "../../src/config.js";
import { ElasticsearchBackend, fromUrl } from "../../src/index.js";

describe("Celery's elasticsearch:// URL", () => {
  it.each([
    ["elasticsearch://", "http://localhost:9200", undefined, undefined],
    ["elasticsearch://es.local", "http://es.local:9200", undefined, undefined],
    ["elasticsearch://es.local:9201/results", "http://es.local:9201", "results", undefined],
    ["elasticsearch+https://u:p%40ss@es.local/idx", "https://es.local:9200", "idx", "u"],
    ["elasticsearch+http://[::1]:9200/", "http://[::1]:9200", undefined, undefined],
  ])("%s", (url, node, index, username) => {
    const parsed = parseCeleryUrl(url);
    expect(parsed.nodes).toEqual([node]);
    expect(parsed.index).toBe(index);
    expect(parsed.username).toBe(username);
  });

  it.each([
    ["opensearch://127.0.0.1:9201", "http://127.0.0.1:9201"],
    ["opensearch+https://u:p@os.local/idx", "https://os.local:9200"],
    ["OpenSearch+http://os.local:9201", "http://os.local:9201"],
  ])("%s picks the OpenSearch client", (url, node) => {
    const config = resolveConfig({ url });
    expect(config.connection).toMatchObject({ driver: "opensearch", nodes: [node] });
    expect(parseCeleryUrl(url).engine).toBe("opensearch");
  });

  it("elasticsearch:// still picks the Elasticsearch client; driver may say otherwise", () => {
    expect(resolveConfig({ url: "elasticsearch://h" }).connection.driver).toBe("elasticsearch");
    expect(
      resolveConfig({ url: "elasticsearch://h", driver: "opensearch" }).connection.driver,
    ).toBe("opensearch");
  });

  it("refuses opensearch:// with driver: elasticsearch, naming the conflict", () => {
    const build = () => resolveConfig({ url: "opensearch://h", driver: "elasticsearch" });
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(/opensearch:\/\/ URL needs the OpenSearch client/);
  });

  it("names every accepted scheme when the URL has another", () => {
    expect(() => parseCeleryUrl("solr://h")).toThrow(/opensearch:\/\//);
  });

  it("names several nodes of a cluster, with its options in the query", () => {
    const parsed = parseCeleryUrl(
      "elasticsearch://u:p@127.0.0.1:9211,127.0.0.1:9212,es3/celery?number_of_replicas=2&wait_for_active_shards=all",
    );
    expect(parsed.nodes).toEqual([
      "http://127.0.0.1:9211",
      "http://127.0.0.1:9212",
      "http://es3:9200",
    ]);
    expect(parsed).toMatchObject({ index: "celery", username: "u", password: "p" });
    const config = resolveConfig({
      url: "elasticsearch://h?number_of_replicas=2&wait_for_active_shards=all",
    });
    expect(config.indexSettings).toEqual({ number_of_replicas: 2 });
    expect(config.writeParams).toEqual({ wait_for_active_shards: "all" });
    expect(resolveConfig({ url: "elasticsearch://h", waitForActiveShards: 2 }).writeParams).toEqual(
      { wait_for_active_shards: 2 },
    );
    expect(() => parseCeleryUrl("elasticsearch://h?replicas=2")).toThrow(ConfigurationError);
    expect(() => resolveConfig({ url: "elasticsearch://h?wait_for_active_shards=some" })).toThrow(
      ConfigurationError,
    );
  });

  it("reads every shard from one copy by default (preference), from the options or the URL", () => {
    expect(resolveConfig({ url: "elasticsearch://h" }).readParams).toEqual({
      preference: "resultstore",
    });
    expect(resolveConfig({ url: "elasticsearch://h?preference=app" }).readParams).toEqual({
      preference: "app",
    });
    expect(resolveConfig({ url: "elasticsearch://h", preference: null }).readParams).toEqual({});
    expect(() => resolveConfig({ url: "elasticsearch://h", preference: "" })).toThrow(
      ConfigurationError,
    );
  });

  it("decodes percent-encoded credentials", () => {
    expect(parseCeleryUrl("elasticsearch://user:p%40ss%3Aw@h").password).toBe("p@ss:w");
  });

  it("refuses a doc_type segment (mapping types are gone since Elasticsearch 8)", () => {
    expect(() => parseCeleryUrl("elasticsearch://h/celery/backend")).toThrow(/mapping types/);
  });

  it("refuses other schemes without echoing the password", () => {
    const attempt = () => parseCeleryUrl("redis://user:hunter2@h:6379/0");
    expect(attempt).toThrow(ConfigurationError);
    expect(attempt).toThrow(/\*\*\*/);
    expect(attempt).not.toThrow(/hunter2/);
  });
});

describe("index names", () => {
  it.each(["celery", "results-2024", "a.b_c+d", "ünïcode"])("accepts %s", (name) => {
    expect(() => validateIndexName(name)).not.toThrow();
  });
  it.each([
    "",
    "Celery",
    "a b",
    "a/b",
    "a*b",
    "a?b",
    'a"b',
    "a<b",
    "a|b",
    "a,b",
    "a#b",
    "a:b",
    "-x",
    "_x",
    "+x",
    ".",
    "..",
    "x".repeat(256),
  ])("refuses %j", (name) => {
    expect(() => validateIndexName(name)).toThrow(ConfigurationError);
  });

  it("namespace wins over the option and the URL path", () => {
    expect(resolveConfig({ url: "elasticsearch://h/from-url", index: "opt" }).index).toBe("opt");
    expect(resolveConfig({ url: "elasticsearch://h/from-url" }).index).toBe("from-url");
    expect(fromUrl("elasticsearch://h/from-url", { namespace: "ns" }).index).toBe("ns");
    expect(new ElasticsearchBackend().index).toBe("celery");
  });

  it("a bad namespace fails at construction, before any request", () => {
    expect(() => fromUrl("elasticsearch://h", { namespace: "Bad Name" })).toThrow(
      ConfigurationError,
    );
  });
});

describe("options", () => {
  it("Celery's defaults: 10 s timeout, 3 retries, no retry on timeout, meta as text", () => {
    const config = resolveConfig({});
    expect(config.connection).toMatchObject({
      requestTimeout: 10_000,
      maxRetries: 3,
      retryOnTimeout: false,
      driver: "elasticsearch",
    });
    expect(config.saveMetaAsText).toBe(true);
  });

  it("applies Celery's global_keyprefix separator rule", () => {
    expect(resolveConfig({ keyPrefix: "x" }).keyPrefix).toBe("x_");
    expect(resolveConfig({ keyPrefix: "x:" }).keyPrefix).toBe("x:");
  });

  it("bounds maxRecordBytes by Elasticsearch's request limit", () => {
    expect(() => resolveConfig({ maxRecordBytes: 60 * 1024 * 1024 })).toThrow(/at most/);
    expect(() => resolveConfig({ maxRecordBytes: -1 })).toThrow(ConfigurationError);
    expect(new ElasticsearchBackend({ maxRecordBytes: 2048 }).capabilities.maxRecordBytes).toBe(
      2048,
    );
  });

  it("refuses an unknown driver", () => {
    expect(() => resolveConfig({ driver: "solr" as never })).toThrow(/driver/);
  });
});

describe("passwords with characters that end a URL's host part", () => {
  it("parses them percent-encoded", () => {
    for (const secret of UNENCODED_SECRETS) {
      expect(
        parseCeleryUrl(`elasticsearch://user:${encodeURIComponent(secret)}@127.0.0.1:9200/idx`),
      ).toMatchObject({ password: secret, index: "idx", nodes: ["http://127.0.0.1:9200"] });
    }
  });

  it("refuses them unencoded with a typed error that shows no part of them", () => {
    for (const secret of UNENCODED_SECRETS) {
      const text = configurationErrorText(() =>
        fromUrl(`elasticsearch://user:${secret}@127.0.0.1:9200/idx`),
      );
      expect(text).toContain("percent-encode");
      expect(text).not.toContain(SECRET_MARK);
    }
  });
});

describe("a stray % in the URL", () => {
  it("is a ConfigurationError naming the part, never a URIError", () => {
    for (const url of ["elasticsearch://127.0.0.1:9200/ind%zzex"]) {
      expect(() => fromUrl(url), url).toThrow(ConfigurationError);
      expect(() => fromUrl(url), url).toThrow(/"%"|Malformed/);
    }
  });
});
