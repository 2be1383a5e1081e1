/** Turns a `cassandra://` URL and options into one complete, validated configuration. */
import { ConfigurationError } from "@resultstore/core";
import {
  assertUserinfoEncoded,
  decodeUrlPart,
  endpointOf,
  enumOption,
  intOption,
  sanitizeUrl,
} from "@resultstore/core/backend";
import cassandra from "cassandra-driver";
import type { CassandraBackendOptions } from "./types.js";

/** The backend's name in errors and logs: `[resultstore] [cassandra] …`. */
export const BACKEND_NAME = "cassandra";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["cassandra"];

/** Cassandra's limit on keyspace and table names. */
const MAX_NAME = 48;
/** A task table's name, with room for the longest suffix of its siblings (`_counters`). */
const MAX_TABLE = MAX_NAME - "_counters".length;

/**
 * The driver's consistency levels under their CQL names (`LOCAL_QUORUM`): its own keys are
 * camelCase (`localQuorum`), and a name it does not know makes it silently use LOCAL_ONE.
 */
const LEVELS = new Map(
  Object.entries(cassandra.types.consistencies).map(([key, level]) => [
    key.replace(/[A-Z]/g, "_$&").toUpperCase(),
    level as number,
  ]),
);
const SERIAL = ["SERIAL", "LOCAL_SERIAL"];

export type ResolvedConfig = ReturnType<typeof resolveConfig>;
/** Where each kind of record lives, as validated CQL identifiers. */
export type TableNames = ResolvedConfig["names"];
export type TableKind = Exclude<keyof TableNames, "keyspace">;
/** `"keyspace"."table"`, quoted: the names are taken as they are (case-folded already). */
export const qualified = (names: TableNames, kind: TableKind) =>
  `"${names.keyspace}"."${names[kind]}"`;
const invalid = (message: string) => new ConfigurationError(BACKEND_NAME, message);

/** Resolves names and settings; throws ConfigurationError before any connection is made. */
export function resolveConfig(options: CassandraBackendOptions) {
  const namespace = options.namespace;
  if (namespace !== undefined) identifier(namespace, "namespace", MAX_TABLE);
  const ownKeyspace = !options.keyspace && namespace !== undefined;
  const keyspace = options.keyspace ?? namespace;
  if (keyspace === undefined)
    throw invalid(
      "Missing required option `keyspace` (Celery's cassandra_keyspace): " +
        "give it in the URL path (cassandra://host:9042/<keyspace>), as ?keyspace=, or as an option.",
    );
  const keyspaceName = identifier(keyspace, "keyspace", MAX_NAME);
  const table =
    namespace !== undefined && !ownKeyspace ? namespace : (options.table ?? "celery_taskmeta");
  const tasks = identifier(table, "table", MAX_TABLE);
  const readOptions = { prepare: true, consistency: level(options.readConsistency, "read") };
  const writeOptions = {
    prepare: true,
    consistency: level(options.writeConsistency, "write"),
    serialConsistency: level(options.serialConsistency, "serial"),
  };
  const port = intOption(options.port, "port", BACKEND_NAME, 1) ?? 9042;
  return {
    names: {
      keyspace: keyspaceName,
      tasks,
      groups: `${tasks}_groups`,
      counters: `${tasks}_counters`,
      sets: `${tasks}_sets`,
    },
    /** The keyspace is ours (for `namespace`): create it on first use, drop it in destroy(). */
    ownKeyspace,
    /** The tables are ours (made for `namespace`): destroy() drops them. */
    ownTables: namespace !== undefined,
    replication: replicationCql(
      options.keyspaceReplication ?? { class: "SimpleStrategy", replication_factor: 1 },
    ),
    readOptions,
    writeOptions,
    /**
     * Task writes and transactions: not idempotent, so the driver never re-sends them (a re-sent
     * transaction fails its condition, reads as a lost race and counts twice; README: incr).
     */
    sendOnce: { ...writeOptions, isIdempotent: false },
    createTables: options.createTables ?? true,
    guardedWrites: options.guardedWrites ?? true,
    maxRecordBytes:
      intOption(options.maxRecordBytes, "maxRecordBytes", BACKEND_NAME, 1024) ?? 3 * 1024 * 1024,
    client: driverClient(options, port),
    /** Shut the client down in close(): ours always, the caller's only with `closeClient`. */
    ownsClient: !options.client || options.closeClient === true,
    endpoint: endpointOf(options.contactPoints?.[0], port),
  };
}

/** A name that can only ever be an identifier in CQL (no quoting tricks, no injection), folded. */
function identifier(name: unknown, what: string, maxLength: number): string {
  if (typeof name !== "string" || !/^[A-Za-z][A-Za-z0-9_]*$/.test(name) || name.length > maxLength)
    throw invalid(
      `Option \`${what}\` must be a CQL identifier (a letter, then letters, digits or _; at most ${maxLength} characters), got ${JSON.stringify(name)}.`,
    );
  // Celery's CQL leaves names unquoted, which Cassandra folds to lower case; we quote them.
  return name.toLowerCase();
}

/** Any case, as Celery; where Celery silently falls back to LOCAL_QUORUM on a typo, we refuse. */
function level(value: unknown, use: "read" | "write" | "serial") {
  const allowed = [...LEVELS.keys()].filter((name) => SERIAL.includes(name) === (use === "serial"));
  const upper = typeof value === "string" ? value.toUpperCase() : value;
  const name = enumOption(upper, allowed, `${use}Consistency`, BACKEND_NAME);
  return LEVELS.get(name ?? (use === "serial" ? "LOCAL_SERIAL" : "LOCAL_QUORUM"));
}

function replicationCql(replication: Record<string, string | number>): string {
  const entries = Object.entries(replication).map(([key, value]) => {
    if (!/^[A-Za-z0-9_.]+$/.test(key) || !/^[A-Za-z0-9_.]+$/.test(String(value)))
      throw invalid(`Option \`keyspaceReplication\` has an unsafe entry ${JSON.stringify(key)}.`);
    return `'${key}': '${value}'`;
  });
  return `{${entries.join(", ")}}`;
}

type ClientSource = { given: cassandra.Client } | { build: cassandra.ClientOptions };

/**
 * The caller's client, or the options of ours (contact points or a bundle, as Celery), the
 * caller's `driverOptions` and `policies` over ours. No client-side timestamps: deletes stamped by
 * a client clock behind the servers' would miss what Paxos wrote (README: Limits, clocks).
 */
function driverClient(options: CassandraBackendOptions, port: number): ClientSource {
  if (options.client) return { given: options.client };
  const { secureConnectBundle: bundle, contactPoints = [], username, driverOptions } = options;
  if (bundle && contactPoints.length > 0)
    throw invalid(
      "Give either contact points (cassandra_servers) or a secure connect bundle, not both.",
    );
  if (!bundle && contactPoints.length === 0)
    throw invalid(
      "Missing contact points: give hosts in the URL (cassandra://host:9042/…), " +
        "`contactPoints`, or `secureConnectBundle`.",
    );
  const given = driverOptions?.policies ?? {};
  if (given.timestampGeneration !== undefined && given.timestampGeneration !== null)
    throw invalid(
      "driverOptions.policies.timestampGeneration must be left out (or null): the backend needs " +
        "server-side timestamps, so that deletes are ordered with its lightweight transactions.",
    );
  const authProvider =
    options.authProvider ??
    (username === undefined
      ? undefined
      : new cassandra.auth.PlainTextAuthProvider(username, options.password ?? ""));
  const { reconnection } = cassandra.policies;
  return {
    build: {
      ...(bundle
        ? { cloud: { secureConnectBundle: bundle } }
        : {
            contactPoints: contactPointsWithPort(contactPoints, port),
            localDataCenter: options.localDataCenter ?? "datacenter1",
          }),
      ...(authProvider ? { authProvider } : {}),
      ...driverOptions,
      policies: {
        // The driver's default waits up to 10 minutes for a lost host: writable again in seconds.
        reconnection: new reconnection.ExponentialReconnectionPolicy(500, 5000, false),
        ...given,
        timestampGeneration:
          null as unknown as cassandra.policies.timestampGeneration.TimestampGenerator,
      },
    },
  };
}

/** Contact points as `host:port`: `host:1`, `[::1]:1` as given; `host`, `::1`, `[::1]` get `port`. */
export function contactPointsWithPort(points: readonly string[], port: number): string[] {
  return points.map((point) =>
    /^\[.*\]:\d+$|^[^:]+:\d+$/.test(point) ? point : `${point}:${port}`,
  );
}

/** The URL's query options (ours and Celery's spelling) → option names. */
const QUERY_OPTIONS = {
  keyspace: "keyspace",
  table: "table",
  localDataCenter: "localDataCenter",
  local_datacenter: "localDataCenter",
  readConsistency: "readConsistency",
  read_consistency: "readConsistency",
  writeConsistency: "writeConsistency",
  write_consistency: "writeConsistency",
  serialConsistency: "serialConsistency",
  serial_consistency: "serialConsistency",
  replicationFactor: "keyspaceReplication",
  replication_factor: "keyspaceReplication",
  secureConnectBundle: "secureConnectBundle",
  secure_bundle_path: "secureConnectBundle",
} as const;

/**
 * Reads `cassandra://[user:password@]host[:port][,host[:port]…][/keyspace][?table=…&…]`. Celery
 * ignores the URL's content; we take hosts, credentials, keyspace and query options from it.
 */
export function optionsFromUrl(url: string): CassandraBackendOptions {
  // An unencoded "/" in the password would put the rest of it into the keyspace and its error.
  assertUserinfoEncoded(url, BACKEND_NAME);
  const match = /^cassandra:\/\/(?:([^@/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i.exec(url);
  if (!match) throw invalid(`Not a cassandra:// URL: ${sanitizeUrl(url)}`);
  const [, userinfo, hosts = "", path = "", query = ""] = match;
  const options: Record<string, unknown> = {};
  if (userinfo) {
    // Split at the first ":" only: a password may hold more of them.
    const separator = userinfo.indexOf(":");
    const user = separator === -1 ? userinfo : userinfo.slice(0, separator);
    options.username = decodeUrlPart(user, "user name", BACKEND_NAME);
    if (separator !== -1)
      options.password = decodeUrlPart(userinfo.slice(separator + 1), "password", BACKEND_NAME);
  }
  if (hosts) options.contactPoints = hosts.split(",").filter(Boolean);
  if (path) options.keyspace = decodeUrlPart(path.replace(/\/$/, ""), "keyspace", BACKEND_NAME);
  for (const [key, value] of new URLSearchParams(query)) {
    const name = QUERY_OPTIONS[key as keyof typeof QUERY_OPTIONS];
    if (!name) throw invalid(`Unknown URL option \`${key}\` in ${sanitizeUrl(url)}.`);
    // SimpleStrategy with that factor (NetworkTopologyStrategy: `keyspaceReplication`).
    const factor = name === "keyspaceReplication" && intOption(Number(value), key, BACKEND_NAME, 1);
    options[name] = factor ? { class: "SimpleStrategy", replication_factor: factor } : value;
  }
  return options as CassandraBackendOptions;
}
