/** Turns a `cassandra://` URL and options into one validated configuration. */
import { ConfigurationError } from "@resultstore/core";
import {
  assertUserinfoEncoded,
  decodeUrlPart,
  enumOption,
  intOption,
  sanitizeUrl,
} from "@resultstore/core/backend";
import type { CassandraBackendOptions, ConsistencyName, SerialConsistencyName } from "./types.js";

/** The backend's name in errors and logs: `[resultstore] [cassandra] …`. */
export const BACKEND_NAME = "cassandra";

/** The URL schemes this package serves, for `createStore(url, { backends: [thisModule] })`. */
export const schemes: readonly string[] = ["cassandra"];

const DEFAULT_PORT = 9042;
const DEFAULT_TABLE = "celery_taskmeta";
/** Cassandra's limit on keyspace and table names. */
const MAX_NAME = 48;
const SUFFIXES = ["_groups", "_counters", "_sets"] as const;

const CONSISTENCIES: readonly ConsistencyName[] = [
  "ANY",
  "ONE",
  "TWO",
  "THREE",
  "QUORUM",
  "ALL",
  "LOCAL_QUORUM",
  "EACH_QUORUM",
  "LOCAL_ONE",
];
const SERIALS: readonly SerialConsistencyName[] = ["SERIAL", "LOCAL_SERIAL"];

/** Where each kind of record lives, as validated CQL identifiers. */
export interface TableNames {
  keyspace: string;
  tasks: string;
  groups: string;
  counters: string;
  sets: string;
}

export interface ResolvedConfig {
  names: TableNames;
  /** The keyspace is ours (made for `namespace`): create it on first use, drop it in destroy(). */
  ownKeyspace: boolean;
  /** The tables are ours (made for `namespace`): destroy() drops them. */
  ownTables: boolean;
  replication: Record<string, string | number>;
  readConsistency: ConsistencyName;
  writeConsistency: ConsistencyName;
  serialConsistency: SerialConsistencyName;
  createTables: boolean;
  guardedWrites: boolean;
  maxRecordBytes: number;
}

/** A name that can only ever be an identifier in CQL: no quoting tricks, no injection. */
export function assertIdentifier(
  name: unknown,
  what: string,
  maxLength = MAX_NAME,
): asserts name is string {
  if (
    typeof name !== "string" ||
    !/^[A-Za-z][A-Za-z0-9_]*$/.test(name) ||
    name.length > maxLength
  ) {
    throw new ConfigurationError(
      BACKEND_NAME,
      `Option \`${what}\` must be a CQL identifier (a letter, then letters, digits or _; at most ${maxLength} characters), got ${JSON.stringify(name)}.`,
    );
  }
}

/** Any case, as Celery; where Celery silently falls back to LOCAL_QUORUM on a typo, we refuse. */
function consistency<T extends string>(
  value: unknown,
  allowed: readonly T[],
  what: string,
): T | undefined {
  const name = typeof value === "string" ? value.toUpperCase() : value;
  return enumOption(name, allowed, what, BACKEND_NAME);
}

/** Resolves names and settings; throws ConfigurationError before any connection is made. */
export function resolveConfig(options: CassandraBackendOptions): ResolvedConfig {
  const namespace = options.namespace;
  if (namespace !== undefined) {
    // The namespace becomes a table name with a suffix, so leave room for the longest suffix.
    assertIdentifier(namespace, "namespace", MAX_NAME - Math.max(...SUFFIXES.map((s) => s.length)));
  }
  const ownKeyspace = !options.keyspace && namespace !== undefined;
  const keyspace = options.keyspace ?? namespace;
  if (keyspace === undefined) {
    throw new ConfigurationError(
      BACKEND_NAME,
      "Missing required option `keyspace` (Celery's cassandra_keyspace): " +
        "give it in the URL path (cassandra://host:9042/<keyspace>), as ?keyspace=, or as an option.",
    );
  }
  assertIdentifier(keyspace, "keyspace");
  const tasks =
    namespace !== undefined && !ownKeyspace ? namespace : (options.table ?? DEFAULT_TABLE);
  assertIdentifier(tasks, "table", MAX_NAME - 9);
  const maxRecordBytes =
    intOption(options.maxRecordBytes, "maxRecordBytes", BACKEND_NAME, 1024) ?? 3 * 1024 * 1024;
  // Celery's CQL leaves names unquoted, which Cassandra folds to lower case; we quote them, so fold too.
  return {
    names: {
      keyspace: keyspace.toLowerCase(),
      tasks: tasks.toLowerCase(),
      groups: `${tasks.toLowerCase()}_groups`,
      counters: `${tasks.toLowerCase()}_counters`,
      sets: `${tasks.toLowerCase()}_sets`,
    },
    ownKeyspace,
    ownTables: namespace !== undefined,
    replication: options.keyspaceReplication ?? { class: "SimpleStrategy", replication_factor: 1 },
    readConsistency:
      consistency(options.readConsistency, CONSISTENCIES, "readConsistency") ?? "LOCAL_QUORUM",
    writeConsistency:
      consistency(options.writeConsistency, CONSISTENCIES, "writeConsistency") ?? "LOCAL_QUORUM",
    serialConsistency:
      consistency(options.serialConsistency, SERIALS, "serialConsistency") ?? "LOCAL_SERIAL",
    createTables: options.createTables ?? true,
    guardedWrites: options.guardedWrites ?? true,
    maxRecordBytes,
  };
}

/** Options a URL query may carry (strings), mapped to option names. */
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
 * Reads `cassandra://[user:password@]host[:port][,host[:port]…][/keyspace][?table=…&…]`
 * (`?replication_factor=3` gives a keyspace we create SimpleStrategy with that factor). Celery
 * ignores the URL's content; we take contact points, credentials, keyspace and the query options
 * from it, and explicit options win over the URL.
 */
export function optionsFromUrl(url: string): CassandraBackendOptions {
  // An unencoded "/" in the password would put the rest of it into the keyspace and its error.
  assertUserinfoEncoded(url, BACKEND_NAME);
  const match = /^cassandra:\/\/(?:([^@/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i.exec(url);
  if (!match)
    throw new ConfigurationError(BACKEND_NAME, `Not a cassandra:// URL: ${sanitizeUrl(url)}`);
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
    if (!name)
      throw new ConfigurationError(
        BACKEND_NAME,
        `Unknown URL option \`${key}\` in ${sanitizeUrl(url)}.`,
      );
    // A cluster's usual replication in a URL: SimpleStrategy with that factor (for
    // NetworkTopologyStrategy, pass `keyspaceReplication` as an option).
    options[name] =
      name === "keyspaceReplication"
        ? {
            class: "SimpleStrategy",
            replication_factor: intOption(Number(value), key, BACKEND_NAME, 1),
          }
        : value;
  }
  return options as CassandraBackendOptions;
}

/** Contact points as `host:port`, applying `port` to those given without one. */
export function contactPointsWithPort(points: readonly string[], port: unknown): string[] {
  const defaultPort = intOption(port, "port", BACKEND_NAME, 1) ?? DEFAULT_PORT;
  return points.map((point) => {
    const bracketed = /^\[.*\]$/.test(point);
    const hasPort = bracketed ? false : /^\[.*\]:\d+$/.test(point) || /^[^:]+:\d+$/.test(point);
    if (hasPort) return point;
    return `${point}:${defaultPort}`;
  });
}
