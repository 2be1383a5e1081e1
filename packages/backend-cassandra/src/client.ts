/** The driver client, built from options: contact points or an Astra secure connect bundle. */
import { ConfigurationError } from "@resultstore/core";
import cassandra from "cassandra-driver";
import { BACKEND_NAME, contactPointsWithPort } from "./config.js";
import { guardControlRefresh } from "./control-refresh.js";
import type { CassandraBackendOptions } from "./types.js";

const { auth, Client } = cassandra;

/**
 * The driver's policies: the caller's (`driverOptions.policies`) merged over ours, policy by
 * policy, so a caller's load balancing or retry policy no longer drops the two of ours. A
 * client-side timestamp generator is refused: the guard's Paxos writes take the coordinator's
 * clock, and plain deletes (`forget`, counters, groups) stamped by a client clock behind the
 * servers' would miss what they delete. (Retry and speculative-execution policies are safe with
 * ours: the driver consults them to re-send only statements marked idempotent, and the backend's
 * lightweight transactions never are.)
 */
function policies(
  given: cassandra.ClientOptions["policies"] = {},
): cassandra.ClientOptions["policies"] {
  const timestamps = given.timestampGeneration;
  if (timestamps !== undefined && timestamps !== null) {
    throw new ConfigurationError(
      BACKEND_NAME,
      "driverOptions.policies.timestampGeneration must be left out (or null): the backend needs " +
        "server-side timestamps, so that deletes are ordered with its lightweight transactions.",
    );
  }
  return {
    // The driver's default backs off up to 10 minutes between attempts on a lost host: after a
    // restart, a result store must be writable again within seconds (found by packages/proof).
    reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(
      500,
      5000,
      false,
    ),
    ...given,
    // Server-side timestamps (null), for the reason above.
    timestampGeneration:
      null as unknown as cassandra.policies.timestampGeneration.TimestampGenerator,
  };
}

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
    ...options.driverOptions,
    policies: policies(options.driverOptions?.policies),
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
