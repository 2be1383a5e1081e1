/** The driver client, built from options: contact points or an Astra secure connect bundle. */
import { ConfigurationError } from "@resultstore/core";
import cassandra from "cassandra-driver";
import { BACKEND_NAME, contactPointsWithPort } from "./config.js";
import { guardControlRefresh } from "./control-refresh.js";
import type { CassandraBackendOptions } from "./types.js";

const { auth, Client } = cassandra;

/** A client for `options`: contact points or an Astra secure connect bundle, never both (as Celery). */
export function buildClient(options: CassandraBackendOptions): cassandra.Client {
  const bundle = options.secureConnectBundle;
  const points = options.contactPoints ?? [];
  if (bundle && points.length > 0) {
    throw new ConfigurationError(
      BACKEND_NAME,
      "Give either contact points (cassandra_servers) or a secure connect bundle, not both.",
    );
  }
  if (!bundle && points.length === 0) {
    throw new ConfigurationError(
      BACKEND_NAME,
      "Missing contact points: give hosts in the URL (cassandra://host:9042/…), " +
        "`contactPoints`, or `secureConnectBundle`.",
    );
  }
  const authProvider =
    options.authProvider ??
    (options.username !== undefined
      ? new auth.PlainTextAuthProvider(options.username, options.password ?? "")
      : undefined);
  const clientOptions: cassandra.ClientOptions = {
    ...(bundle
      ? { cloud: { secureConnectBundle: bundle } }
      : {
          contactPoints: contactPointsWithPort(points, options.port),
          localDataCenter: options.localDataCenter ?? "datacenter1",
        }),
    ...(authProvider ? { authProvider } : {}),
    // Server-side timestamps: the guard's Paxos writes take the coordinator's clock, so plain
    // deletes must too, or a client clock behind the server's would let a delete miss them.
    policies: {
      timestampGeneration:
        null as unknown as cassandra.policies.timestampGeneration.TimestampGenerator,
      // The driver's default backs off up to 10 minutes between attempts on a lost host: after a
      // restart, a result store must be writable again within seconds (found by packages/proof).
      reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(
        500,
        5000,
        false,
      ),
    },
    ...options.driverOptions,
  };
  let client: cassandra.Client;
  try {
    client = new Client(clientOptions);
  } catch (cause) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Invalid driver options: ${(cause as Error).message}`,
      { cause },
    );
  }
  guardControlRefresh(client);
  return client;
}
