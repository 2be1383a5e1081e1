/** The driver at the edges: building a client from options, and mapping its errors to core's. */
import {
  BackendConnectionError,
  BackendError,
  ConfigurationError,
  ResultStoreError,
} from "@resultstore/core";
import cassandra from "cassandra-driver";
import { BACKEND_NAME, contactPointsWithPort } from "./config.js";
import type { CassandraBackendOptions } from "./types.js";

const { auth, Client, errors, types } = cassandra;

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
    },
    ...options.driverOptions,
  };
  try {
    return new Client(clientOptions);
  } catch (cause) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Invalid driver options: ${(cause as Error).message}`,
      { cause },
    );
  }
}

const TRANSIENT_CODES = new Set<number>([
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.readTimeout,
  types.responseErrorCodes.writeTimeout,
]);

function isTransportError(error: unknown): boolean {
  if (error instanceof errors.NoHostAvailableError) {
    // The driver reports a server's refusal (e.g. a re-prepare on a dropped table) as "no host
    // available" too: that is transport trouble only if some host failed for a transient reason.
    const inner = Object.values((error.innerErrors ?? {}) as Record<string, unknown>);
    return (
      inner.length === 0 ||
      inner.some((e) => !(e instanceof errors.ResponseError) || TRANSIENT_CODES.has(e.code))
    );
  }
  return (
    error instanceof errors.OperationTimedOutError || error instanceof errors.BusyConnectionError
  );
}

/** Transient transport failures, timeouts and overload: safe to try again. */
export function isRetryableError(error: unknown): boolean {
  const cause = error instanceof ResultStoreError ? error.cause : error;
  return (
    isTransportError(cause) ||
    (cause instanceof errors.ResponseError && TRANSIENT_CODES.has(cause.code))
  );
}

/** A write timeout during Paxos: the transaction may or may not have been applied. */
export function isCasTimeout(error: unknown): boolean {
  return (
    error instanceof errors.ResponseError &&
    error.code === types.responseErrorCodes.writeTimeout &&
    String((error as { writeType?: unknown }).writeType).toUpperCase() === "CAS"
  );
}

/** Core's typed error for a driver failure; `what` says which operation failed. */
export function wrapError(error: unknown, what: string): Error {
  if (error instanceof ResultStoreError) return error;
  const message = `${what} failed: ${(error as Error)?.message ?? String(error)}`;
  if (isTransportError(error) || error instanceof errors.AuthenticationError) {
    return new BackendConnectionError(BACKEND_NAME, message, { cause: error });
  }
  return new BackendError(BACKEND_NAME, message, { cause: error });
}
