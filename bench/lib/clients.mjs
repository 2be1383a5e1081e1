// Connections the raw and hand-written bench targets share: each opens its own namespace (table,
// keyspace, container, key prefix) on the shared server and drops only that on close.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { Agent } from "node:https";
import { createRequire } from "node:module";

/** A short random suffix for this run's namespace. */
export const unique = () => randomUUID().replaceAll("-", "").slice(0, 8);

/** Celery's key-value meta (CELERY-COMPAT.md §4) as JSON, plus our metadata when given. */
export function celeryValue(id, status, result, metadata) {
  return JSON.stringify({
    status,
    result,
    traceback: null,
    children: [],
    date_done: new Date().toISOString(),
    ...(metadata ? { metadata } : {}),
    task_id: id,
  });
}

/** A DynamoDB client for `url` (DynamoDB Local on a local host, else the region it names). */
export async function dynamoClient(url) {
  const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
  const parsed = new URL(url);
  const local = parsed.hostname === "localhost" || /^[\d.]+$|^\[/.test(parsed.hostname);
  return new DynamoDBClient({
    region: local ? "us-east-1" : parsed.hostname || undefined,
    ...(local ? { endpoint: `http://${parsed.hostname}:${parsed.port || 8000}` } : {}),
    ...(parsed.username
      ? {
          credentials: {
            accessKeyId: decodeURIComponent(parsed.username),
            secretAccessKey: decodeURIComponent(parsed.password),
          },
        }
      : {}),
  });
}

/** A DynamoDB client for `url` and a fresh table `<prefix>_<unique>` keyed by `id` (S). */
export async function dynamoTable(url, prefix) {
  const { CreateTableCommand, DeleteTableCommand, waitUntilTableExists } = await import(
    "@aws-sdk/client-dynamodb"
  );
  const client = await dynamoClient(url);
  const TableName = `${prefix}_${unique()}`;
  await client.send(
    new CreateTableCommand({
      TableName,
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 120 }, { TableName });
  return {
    client,
    TableName,
    close: async () => {
      await client.send(new DeleteTableCommand({ TableName })).catch(() => undefined);
      client.destroy();
    },
  };
}

/** A cassandra-driver client for `url` and a fresh keyspace `<prefix>_<unique>` (RF 1). */
export async function cassandraKeyspace(url, prefix) {
  const { default: cassandra } = await import("cassandra-driver");
  const host = /^cassandra:\/\/(?:[^@/]*@)?([^/?#,]+)/.exec(url)?.[1] ?? "127.0.0.1:9042";
  const client = new cassandra.Client({ contactPoints: [host], localDataCenter: "datacenter1" });
  await client.connect();
  const keyspace = `${prefix}_${unique()}`;
  await client.execute(
    `CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
  );
  return {
    client,
    keyspace,
    options: { prepare: true, consistency: cassandra.types.consistencies.localQuorum },
    close: async () => {
      await client.execute(`DROP KEYSPACE ${keyspace}`);
      await client.shutdown();
    },
  };
}

/** A CosmosClient for `url` (trusting RESULTSTORE_COSMOS_CA, the emulator's certificate). */
export function cosmosClient(url) {
  // The driver is the backend package's dependency, not the root's.
  const require = createRequire(
    new URL("../../packages/backend-cosmos/package.json", import.meta.url),
  );
  const { CosmosClient } = require("@azure/cosmos");
  const parsed = new URL(url);
  const ca = process.env.RESULTSTORE_COSMOS_CA;
  return new CosmosClient({
    endpoint: `https://${parsed.host}`,
    key: decodeURIComponent(parsed.password),
    // At most 64 sockets: the emulator is shared, and 64 getMany(100) in flight would open 6400.
    agent: new Agent({ ...(ca ? { ca: readFileSync(ca) } : {}), keepAlive: true, maxSockets: 64 }),
  });
}

/** A Cosmos container `<prefix>_<unique>` (partition key /id) in Celery's `celerydb`. */
export async function cosmosContainer(url, prefix) {
  const client = cosmosClient(url);
  const { database } = await client.databases.createIfNotExists({ id: "celerydb" });
  const { container } = await database.containers.createIfNotExists({
    id: `${prefix}_${unique()}`,
    partitionKey: { paths: ["/id"] },
  });
  return {
    container,
    close: async () => {
      await container.delete();
      client.dispose();
    },
  };
}

/**
 * Consul's HTTP API with a keep-alive agent: `call(method, path, body)` under the KV prefix
 * `<prefix>-<unique>/`, `callApi` for any other /v1 path; `close` deletes the prefix.
 */
export function consulApi(url, prefix) {
  const { host } = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const root = `${prefix}-${unique()}`;
  const callApi = (method, path, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(`http://${host}/v1/${path}`, { method, agent }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }),
        );
      });
      req.on("error", reject);
      req.end(body);
    });
  const call = (method, path, body) => callApi(method, `kv/${root}/${path}`, body);
  return {
    root,
    call,
    callApi,
    /** Closes idle keep-alive sockets (Consul caps connections per client address). */
    idle: () => agent.destroy(),
    close: async () => {
      await call("DELETE", "?recurse");
      agent.destroy();
    },
  };
}

/** An Elasticsearch client for `elasticsearch[+https]://host:port`. */
export async function elasticClient(url) {
  const { Client } = await import("@elastic/elasticsearch");
  const parsed = new URL(
    url.replace(/^elasticsearch(\+https?)?:/, (_, t) => `${t ? t.slice(1) : "http"}:`),
  );
  return new Client({ node: `${parsed.protocol}//${parsed.host}` });
}

/**
 * Closes the idle keep-alive sockets of every http(s).Agent reachable from `root` (a few levels
 * deep). Consul answers 429 once one client address holds 200 connections (its default
 * http_max_conns_per_client), and three targets keeping 64 idle sockets each would reach that
 * before Celery's per-call connections; so each Consul sample starts without the others' sockets.
 */
export function dropIdleSockets(root, depth = 4, seen = new Set()) {
  if (!root || typeof root !== "object" || seen.has(root) || depth < 0) return;
  seen.add(root);
  if (root instanceof http.Agent) {
    root.destroy();
    return;
  }
  for (const value of Object.values(root)) dropIdleSockets(value, depth - 1, seen);
}
