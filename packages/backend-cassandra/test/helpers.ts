/** Shared by the tests: one keyspace per test run, a raw driver client, and per-store tables. */
import { randomUUID } from "node:crypto";
import { decodeJson, ResultStore, type ResultStoreOptions } from "@resultstore/core";
import { isPlainObject } from "@resultstore/core/backend";
import cassandra from "cassandra-driver";
import { optionsFromUrl } from "../src/config.js";
import { type CassandraBackend, type CassandraBackendOptions, fromUrl } from "../src/index.js";

export const KEYSPACE = `rs_test_${randomUUID().replaceAll("-", "").slice(0, 12)}`;

let raw: Promise<cassandra.Client> | undefined;

/** A plain driver client and the run's keyspace (RF 1), made once. */
export function rawClient(url: string): Promise<cassandra.Client> {
  raw ??= (async () => {
    // Every host the URL names (a cluster's contact points), and its replication factor.
    const fromUrlOptions = optionsFromUrl(url);
    const client = new cassandra.Client({
      contactPoints: fromUrlOptions.contactPoints ?? ["127.0.0.1:9042"],
      localDataCenter: "datacenter1",
      // Raw reads must see what a QUORUM write acknowledged on a cluster (one replica may lag).
      queryOptions: { consistency: cassandra.types.consistencies.quorum },
    });
    await client.connect();
    const rf = fromUrlOptions.keyspaceReplication?.replication_factor ?? 1;
    await client.execute(
      `CREATE KEYSPACE IF NOT EXISTS ${KEYSPACE} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${Number(rf)}}`,
    );
    // On a cluster, every node must know the keyspace before stores create tables in it.
    const metadata = client.metadata as unknown as { checkSchemaAgreement(): Promise<boolean> };
    for (let i = 0; i < 150 && !(await metadata.checkSchemaAgreement()); i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    return client;
  })();
  return raw;
}

export async function dropKeyspace(): Promise<void> {
  if (!raw) return;
  const client = await raw;
  // Each task table has six SAI indexes to drop with it: measured 1.7 s for 8 bare tables and
  // 2.4–4.1 s with indexes on the loaded dev box, so the run's dozens of tables outlast 12 s.
  await client.execute(`DROP KEYSPACE IF EXISTS ${KEYSPACE}`, [], { readTimeout: 120_000 });
  await client.shutdown();
  raw = undefined;
}

const tables = new WeakMap<object, string>();

/** A store on fresh tables `<namespace>*` in the run's keyspace. */
export async function createTestStore(
  url: string,
  storeOptions: ResultStoreOptions = {},
  backendOptions: CassandraBackendOptions = {},
): Promise<ResultStore> {
  await rawClient(url);
  const namespace = `ns_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const backend = fromUrl(url, { keyspace: KEYSPACE, namespace, ...backendOptions });
  tables.set(backend, namespace);
  // A store creates each table on first use (a schema change: a second or more on a loaded box).
  // Core stamps expiresAt before the backend runs, so with a 1 s expiry that first call would
  // write an already-expired record: create the tables the expiry tests use up front.
  await backend.read("warm-up");
  // The conformance suite's set-expiry test uses the default store: its sets table too.
  await backend.addToSet("warm-up", "warm-up", new Date(Date.now() + 1000));
  if (storeOptions.expires !== undefined) {
    await backend.readGroup("warm-up");
    await backend.removeCounter("warm-up");
  }
  return new ResultStore(backend, storeOptions);
}

/**
 * Another store on `store`'s tables with its own driver client and write queue, as a second
 * process would open them: the conformance suite's peer for tests of several writers.
 */
export async function peerStore(url: string, store: ResultStore): Promise<ResultStore> {
  const namespace = tables.get(store.backend);
  if (!namespace) throw new Error("not a test store");
  return new ResultStore(fromUrl(url, { keyspace: KEYSPACE, namespace }));
}

export function tableOf(store: ResultStore | CassandraBackend): string {
  const backend = store instanceof ResultStore ? store.backend : store;
  const table = tables.get(backend);
  if (!table) throw new Error("not a test store");
  return `${KEYSPACE}.${table}`;
}

/** What Cassandra holds for a task: the newest row's status, our metadata, and its expiry. */
export async function readRawRecord(url: string, store: ResultStore, taskId: string) {
  const client = await rawClient(url);
  const result = await client.execute(
    `SELECT status, rs_meta, rs_expires_at, TTL(status) AS ttl FROM ${tableOf(store)} WHERE task_id = ? LIMIT 1`,
    [taskId],
    { prepare: true },
  );
  const row = result.first();
  if (!row?.get("status")) return null;
  const meta = row.get("rs_meta") ? decodeJson(row.get("rs_meta") as Buffer) : {};
  const ttl = row.get("ttl") as number | null;
  return {
    status: row.get("status") as string,
    metadata: isPlainObject(meta) && isPlainObject(meta.metadata) ? meta.metadata : {},
    // Our exact expiry; else (a row Celery wrote) what its TTL says, to the second.
    expiresAt:
      (row.get("rs_expires_at") as Date | null) ?? (ttl ? new Date(Date.now() + ttl * 1000) : null),
  };
}
