/**
 * The six databases, each configured twice for the same records: our store (createStore) and
 * Celery's own backend (the result_backend URL and settings a Celery worker gets), in a namespace
 * of this run's own.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { PeerRequest } from "@resultstore/celery-interop";
import { type ServerTarget, serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";

export interface Pairing {
  store: ResultStore;
  /** Celery's result_backend URL for the same records. */
  celeryUrl: string;
  /** Celery settings for the same records. */
  settings: NonNullable<PeerRequest["settings"]>;
}

export interface Database {
  /** As in `npm run services` and the README table. */
  name: string;
  /** Celery's backend class. */
  celeryBackend: string;
  target: ServerTarget;
  pair(url: string, namespace: string): Promise<Pairing>;
}

const trimmed = (url: string) => url.replace(/\/+$/, "");

/** Every database the services run; under CI a missing server fails (serverTarget), elsewhere it is skipped. */
export function databases(): Database[] {
  return [
    {
      name: "mongo",
      celeryBackend: "MongoBackend",
      target: serverTarget("MONGO"),
      pair: pairMongo,
    },
    {
      // The second MongoDB-wire engine the services run (mongo-java-server; FerretDB is "mongo").
      name: "mongo-java",
      celeryBackend: "MongoBackend",
      target: serverTarget("MONGO_JAVA", "mongo-java"),
      pair: pairMongo,
    },
    {
      name: "cassandra",
      celeryBackend: "CassandraBackend",
      target: serverTarget("CASSANDRA"),
      async pair(url, ns) {
        // Our namespace is a keyspace of its own, with Celery's table name inside.
        const store = await createStore({ url, backendOptions: { namespace: ns } });
        const settings = { cassandra_keyspace: ns, cassandra_table: "celery_taskmeta" };
        return { store, celeryUrl: url, settings };
      },
    },
    pathNamed("dynamodb", "DynamoDBBackend", "DYNAMODB"),
    pathNamed("elasticsearch", "ElasticsearchBackend", "ELASTICSEARCH"),
    {
      name: "consul",
      celeryBackend: "ConsulBackend",
      target: serverTarget("CONSUL"),
      async pair(url, ns) {
        const prefix = `rs-e2e/${ns}`; // our key prefix is Celery's URL path
        const store = await createStore({ url, backendOptions: { namespace: prefix } });
        return { store, celeryUrl: `${trimmed(url)}/${prefix}`, settings: {} };
      },
    },
    {
      // The same, with our key sessions off: Celery's acquire then finds the key free.
      name: "consul, sessionExpiry: false",
      celeryBackend: "ConsulBackend",
      target: serverTarget("CONSUL"),
      async pair(url, ns) {
        const prefix = `rs-e2e/${ns}`;
        const store = await createStore({
          url,
          backendOptions: { namespace: prefix, sessionExpiry: false },
        });
        return { store, celeryUrl: `${trimmed(url)}/${prefix}`, settings: {} };
      },
    },
    {
      name: "cosmos",
      celeryBackend: "CosmosDBSQLBackend (HTTPS subclass, see celery-interop)",
      target: serverTarget("COSMOS"),
      async pair(url, ns) {
        const caFile = process.env.RESULTSTORE_COSMOS_CA;
        const store = await createStore({
          url,
          backendOptions: { namespace: ns, ...(caFile ? { ca: readFileSync(caFile) } : {}) },
        });
        const container = (store.backend as unknown as { containerName: string }).containerName;
        return { store, celeryUrl: url, settings: { cosmosdbsql_collection_name: container } };
      },
    },
  ];
}

/** DynamoDB and Elasticsearch: the URL's path names the table or index, on both sides. */
function pathNamed(name: string, celeryBackend: string, envName: string): Database {
  return {
    name,
    celeryBackend,
    target: serverTarget(envName),
    async pair(url, ns) {
      const celeryUrl = `${trimmed(url)}/${ns}`;
      return { store: await createStore(celeryUrl), celeryUrl, settings: {} };
    },
  };
}

async function pairMongo(url: string, ns: string): Promise<Pairing> {
  const database = "resultstore_e2e";
  const store = await createStore({
    url: `${trimmed(url)}/${database}`,
    backendOptions: { namespace: ns },
  });
  const settings = {
    mongodb_backend_settings: {
      database,
      taskmeta_collection: `${ns}_taskmeta`,
      groupmeta_collection: `${ns}_groupmeta`,
    },
  };
  return { store, celeryUrl: url, settings };
}

/** A namespace valid as a keyspace, table, index, collection prefix and key prefix alike. */
export const freshNamespace = () => `e2e${randomUUID().replaceAll("-", "").slice(0, 12)}`;

/** Drops what the store created for its namespace, where the backend can. */
export async function destroy(store: ResultStore): Promise<void> {
  const backend = store.backend as { destroy?: () => Promise<void> };
  await backend.destroy?.().catch(() => {});
  await store.close();
}
