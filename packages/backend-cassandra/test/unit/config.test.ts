// Configuration and URL parsing: no server needed.

import { configurationErrorText, SECRET_MARK, UNENCODED_SECRETS } from "@resultstore/conformance";
import { ConfigurationError } from "@resultstore/core";
import cassandra from "cassandra-driver";
import { describe, expect, it } from "vitest";
import { createClient } from "../../src/client.js";
import { contactPointsWithPort, optionsFromUrl, resolveConfig } from "../../src/config.js";
import { CassandraBackend, fromUrl } from "../../src/index.js";
import { ttlSeconds } from "../../src/records.js";

describe("cassandra:// URLs", () => {
  it("takes hosts, credentials, keyspace and query options", () => {
    expect(
      optionsFromUrl(
        "cassandra://u%40x:p%3Ass@h1:9043,h2/celery?table=tasks&localDataCenter=dc2&readConsistency=ONE",
      ),
    ).toEqual({
      username: "u@x",
      password: "p:ss",
      contactPoints: ["h1:9043", "h2"],
      keyspace: "celery",
      table: "tasks",
      localDataCenter: "dc2",
      readConsistency: "ONE",
    });
  });

  it("takes a cluster's options: several hosts, replication factor, consistency levels", () => {
    expect(
      optionsFromUrl(
        "cassandra://127.0.0.2:9042,127.0.0.3:9042,127.0.0.4:9042?replication_factor=3&read_consistency=QUORUM&write_consistency=QUORUM&serial_consistency=SERIAL",
      ),
    ).toEqual({
      contactPoints: ["127.0.0.2:9042", "127.0.0.3:9042", "127.0.0.4:9042"],
      keyspaceReplication: { class: "SimpleStrategy", replication_factor: 3 },
      readConsistency: "QUORUM",
      writeConsistency: "QUORUM",
      serialConsistency: "SERIAL",
    });
    expect(() => optionsFromUrl("cassandra://h?replication_factor=zero")).toThrow(
      ConfigurationError,
    );
  });

  it("accepts Celery's empty URL (everything from options)", () => {
    expect(optionsFromUrl("cassandra://")).toEqual({});
    const backend = fromUrl("cassandra://", { contactPoints: ["127.0.0.1"], keyspace: "ks" });
    expect(backend.name).toBe("cassandra");
  });

  it("refuses unknown query options and never echoes the password", () => {
    const error = (() => {
      try {
        optionsFromUrl("cassandra://user:hunter2@h/ks?tabel=x");
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error?.message).toContain("tabel");
    expect(error?.message).not.toContain("hunter2");
  });

  it("adds the default or configured port to bare hosts", () => {
    expect(contactPointsWithPort(["a", "b:1", "[::1]", "[::1]:2"], 9042)).toEqual([
      "a:9042",
      "b:1",
      "[::1]:9042",
      "[::1]:2",
    ]);
    expect(contactPointsWithPort(["a"], 9100)).toEqual(["a:9100"]);
  });
});

describe("names and settings", () => {
  const hosts = { contactPoints: ["127.0.0.1"] };
  const hostile = ['ks"; DROP KEYSPACE system; --', "a b", "1abc", "", "x".repeat(49), "tbl'"];
  it.each(hostile)("refuses %j as keyspace or table before connecting", (name) => {
    expect(() => resolveConfig({ keyspace: name })).toThrow(ConfigurationError);
    expect(() => resolveConfig({ keyspace: "ks", table: name })).toThrow(ConfigurationError);
    expect(() => resolveConfig({ keyspace: "ks", namespace: name })).toThrow(ConfigurationError);
  });

  it("folds names to lower case, as Celery's unquoted CQL does", () => {
    expect(resolveConfig({ ...hosts, keyspace: "Celery", table: "TaskMeta" }).names).toEqual({
      keyspace: "celery",
      tasks: "taskmeta",
      groups: "taskmeta_groups",
      counters: "taskmeta_counters",
      sets: "taskmeta_sets",
    });
  });

  it("maps a namespace to tables in the keyspace, or to a keyspace of its own", () => {
    expect(resolveConfig({ ...hosts, keyspace: "ks", namespace: "ns1" })).toMatchObject({
      names: { keyspace: "ks", tasks: "ns1" },
      ownTables: true,
      ownKeyspace: false,
    });
    expect(resolveConfig({ ...hosts, namespace: "ns1" })).toMatchObject({
      names: { keyspace: "ns1", tasks: "celery_taskmeta" },
      ownKeyspace: true,
    });
  });

  it("requires a keyspace, as Celery does", () => {
    expect(() => resolveConfig({})).toThrow(/keyspace/);
  });

  it("defaults to LOCAL_QUORUM / LOCAL_SERIAL and refuses unknown levels (Celery falls back silently)", () => {
    const { consistencies } = cassandra.types;
    expect(resolveConfig({ ...hosts, keyspace: "k" })).toMatchObject({
      readOptions: { consistency: consistencies.localQuorum },
      writeOptions: {
        consistency: consistencies.localQuorum,
        serialConsistency: consistencies.localSerial,
      },
    });
    expect(
      resolveConfig({ ...hosts, keyspace: "k", readConsistency: "one" as "ONE" }).readOptions,
    ).toMatchObject({ consistency: consistencies.one });
    expect(() =>
      resolveConfig({ ...hosts, keyspace: "k", writeConsistency: "LOCAL_QUORUMM" as "ONE" }),
    ).toThrow(ConfigurationError);
    expect(() =>
      resolveConfig({ ...hosts, keyspace: "k", serialConsistency: "QUORUM" as "SERIAL" }),
    ).toThrow(ConfigurationError);
  });

  it("refuses contact points together with a secure connect bundle, and neither", () => {
    expect(
      () =>
        new CassandraBackend({
          keyspace: "k",
          contactPoints: ["h"],
          secureConnectBundle: "/b.zip",
        }),
    ).toThrow(/not both/);
    expect(() => new CassandraBackend({ keyspace: "k" })).toThrow(/contact points/);
  });
});

describe("TTL", () => {
  it("never expires before expiresAt: counts from the whole second, rounds up", () => {
    const now = Date.parse("2026-01-01T00:00:00.900Z");
    expect(ttlSeconds(new Date(now + 1000), now)).toBe(2);
    expect(ttlSeconds(new Date(now + 100), now)).toBe(1);
    expect(ttlSeconds(new Date(now - 5000), now)).toBe(1);
    expect(ttlSeconds(null, now)).toBe(0);
  });

  it("refuses expiries beyond Cassandra's 20-year limit", () => {
    expect(() => ttlSeconds(new Date(Date.now() + 21 * 365 * 86_400_000))).toThrow(
      ConfigurationError,
    );
  });
});

describe("the driver client", () => {
  it("tries a lost server again within seconds, not the driver's default of up to 10 minutes", async () => {
    // The proof (packages/proof) saw every client stay disconnected for minutes after a restart:
    // the default exponential policy had backed off far beyond the outage.
    const client = createClient(resolveConfig({ contactPoints: ["127.0.0.1"], keyspace: "k" }));
    // The driver keeps its resolved options on the client (not in its typings).
    const { options } = client as unknown as { options: cassandra.ClientOptions };
    const policy = options.policies?.reconnection;
    const delays = policy?.newSchedule();
    const waits = Array.from({ length: 20 }, () => delays?.next().value as number);
    expect(Math.max(...waits)).toBeLessThanOrEqual(5000);
    await client.shutdown();
  });
});

const driver = cassandra;

describe("driverOptions.policies", () => {
  // A caller's `policies` once replaced the backend's whole object: its server-side timestamps
  // (which order deletes with the guard's Paxos writes) and its reconnection policy were lost.
  const policiesOf = (client: cassandra.Client) =>
    (client as unknown as { options: cassandra.ClientOptions }).options.policies;

  it("are merged over ours: a caller's retry or load balancing keeps our timestamps and reconnection", async () => {
    const retry = new driver.policies.retry.FallthroughRetryPolicy();
    const loadBalancing = new driver.policies.loadBalancing.RoundRobinPolicy();
    const client = createClient(
      resolveConfig({
        contactPoints: ["127.0.0.1"],
        keyspace: "k",
        driverOptions: { policies: { retry, loadBalancing } },
      }),
    );
    const policies = policiesOf(client);
    expect(policies?.retry).toBe(retry);
    expect(policies?.loadBalancing).toBe(loadBalancing);
    expect(policies?.timestampGeneration).toBeNull();
    const delays = policies?.reconnection?.newSchedule();
    expect(delays?.next().value).toBeLessThanOrEqual(5000);
    await client.shutdown();
  });

  it("a caller's reconnection policy wins (it only decides when to reconnect)", async () => {
    const reconnection = new driver.policies.reconnection.ConstantReconnectionPolicy(100);
    const client = createClient(
      resolveConfig({
        contactPoints: ["127.0.0.1"],
        keyspace: "k",
        driverOptions: { policies: { reconnection } },
      }),
    );
    expect(policiesOf(client)?.reconnection).toBe(reconnection);
    await client.shutdown();
  });

  it("a client-side timestamp generator is refused with a ConfigurationError", () => {
    const timestampGeneration = new driver.policies.timestampGeneration.MonotonicTimestampGenerator(
      1000,
      1000,
    );
    expect(() =>
      resolveConfig({
        contactPoints: ["127.0.0.1"],
        keyspace: "k",
        driverOptions: { policies: { timestampGeneration } },
      }),
    ).toThrow(ConfigurationError);
    expect(() =>
      fromUrl("cassandra://127.0.0.1/ks", { driverOptions: { policies: { timestampGeneration } } }),
    ).toThrow(/timestampGeneration/);
  });
});

describe("passwords with characters that end a URL's host part", () => {
  it("parses them percent-encoded", () => {
    for (const secret of UNENCODED_SECRETS) {
      expect(
        optionsFromUrl(`cassandra://user:${encodeURIComponent(secret)}@127.0.0.1:9042/ks`),
      ).toMatchObject({ username: "user", password: secret, keyspace: "ks" });
    }
  });

  it("refuses them unencoded with a typed error that shows no part of them", () => {
    for (const secret of UNENCODED_SECRETS) {
      const text = configurationErrorText(() =>
        fromUrl(`cassandra://user:${secret}@127.0.0.1:9042/ks`),
      );
      expect(text).toContain("percent-encode");
      expect(text).not.toContain(SECRET_MARK);
    }
  });
});

describe("user info", () => {
  it("splits user and password at the first colon: a password may hold more", () => {
    expect(optionsFromUrl("cassandra://user:ab:cd:ef@127.0.0.1/ks")).toMatchObject({
      username: "user",
      password: "ab:cd:ef",
    });
    expect(optionsFromUrl("cassandra://user@127.0.0.1/ks").password).toBeUndefined();
  });

  it("refuses a stray % with a typed error", () => {
    expect(
      configurationErrorText(() => optionsFromUrl("cassandra://user:50%S3CR@127.0.0.1/ks")),
    ).not.toContain(SECRET_MARK);
  });
});

describe("a stray % in the URL", () => {
  it("is a ConfigurationError naming the part, never a URIError", () => {
    for (const url of ["cassandra://127.0.0.1/key%zzspace"]) {
      expect(() => fromUrl(url), url).toThrow(ConfigurationError);
      expect(() => fromUrl(url), url).toThrow(/"%"|Malformed/);
    }
  });
});
