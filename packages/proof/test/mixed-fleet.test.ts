/**
 * The Python side of a mixed fleet, without Python: which targets can have Python processes, and
 * how the run's namespace becomes the Celery URL and settings that address the Node clients'
 * records (a wrong mapping would send the two languages to different tables).
 */
import { describe, expect, it } from "vitest";
import { celeryBackendFor, noPythonSide } from "../src/python.js";
import { CLUSTER_TARGETS, TARGETS } from "../src/targets.js";

describe("noPythonSide", () => {
  it("lets the six databases have Python processes, not memory, OpenSearch or the clusters", () => {
    const able = TARGETS.filter((t) => !noPythonSide(t)).map((t) => t.name);
    expect(able).toEqual([
      "mongo",
      "mongo-java",
      "cassandra",
      "dynamodb",
      "elasticsearch",
      "consul",
      "cosmos",
    ]);
    for (const t of CLUSTER_TARGETS) expect(noPythonSide(t)).toMatch(/cluster/);
  });
});

describe("celeryBackendFor", () => {
  const ns = "proof_1a2b3c4d";
  it.each([
    [
      "mongodb://127.0.0.1:27017/?maxPoolSize=8",
      "mongodb://127.0.0.1:27017/celery?maxPoolSize=8",
      {
        mongodb_backend_settings: {
          taskmeta_collection: `${ns}_taskmeta`,
          groupmeta_collection: `${ns}_groupmeta`,
        },
      },
    ],
    ["cassandra://127.0.0.1:9042", `cassandra://127.0.0.1:9042/${ns}`, {}],
    [
      "dynamodb://key:secret@127.0.0.1:8000",
      `dynamodb://key:secret@127.0.0.1:8000/celery_${ns}`,
      {},
    ],
    ["elasticsearch://127.0.0.1:9200", `elasticsearch://127.0.0.1:9200/${ns}`, {}],
    ["consul://127.0.0.1:8500?token=t0k", `consul://127.0.0.1:8500/${ns}?token=t0k`, {}],
    [
      "cosmosdbsql://:k3y@127.0.0.1:8081",
      "cosmosdbsql://:k3y@127.0.0.1:8081",
      { cosmosdbsql_database_name: "celerydb", cosmosdbsql_collection_name: `celerycol_${ns}` },
    ],
  ])("%s", (url, celeryUrl, settings) => {
    expect(celeryBackendFor(url, ns)).toEqual({ url: celeryUrl, settings });
  });

  it("keeps a path the Node backend reads (DynamoDB's table, Consul's prefix, Mongo's database)", () => {
    expect(celeryBackendFor("dynamodb://k:s@127.0.0.1:8000/results", ns).url).toBe(
      `dynamodb://k:s@127.0.0.1:8000/results_${ns}`,
    );
    expect(celeryBackendFor("consul://127.0.0.1:8500/app", ns).url).toBe(
      `consul://127.0.0.1:8500/app/${ns}`,
    );
    expect(celeryBackendFor("mongodb://127.0.0.1:27017/db", ns).url).toBe(
      "mongodb://127.0.0.1:27017/db",
    );
  });
});
