/** The driver client, and the keyspace and tables it needs, created on first use. */
import { setTimeout } from "node:timers/promises";
import { BackendError, ConfigurationError } from "@resultstore/core";
import { Lazy } from "@resultstore/core/backend";
import cassandra, { type Client } from "cassandra-driver";
import { BACKEND_NAME, qualified, type ResolvedConfig, type TableKind } from "./config.js";
import { beforeSending } from "./errors.js";
import { findIndexes } from "./find.js";

/** Our columns on Celery's table: static, so they outlive its rows (README: Storage layout). */
const STATIC_COLUMNS: readonly [string, string][] = [
  // The guard of stores older than rs_token (upgrades); never alone: it restarts after `forget`.
  ["rs_version", "int"],
  // A fresh random UUID per write: the guard's token, never repeated across re-creations.
  ["rs_token", "uuid"],
  // Everything Celery's row has no column for: metadata and the extended request fields (JSON).
  ["rs_meta", "blob"],
  // The record's expiry to the millisecond (TTL is whole seconds).
  ["rs_expires_at", "timestamp"],
  // What `find` selects by, each under an SAI index (find.ts): the last write's time (core's
  // updatedAt), the state and name, and the scalar metadata as key → its Celery JSON.
  ["rs_updated_at", "timestamp"],
  ["rs_state", "text"],
  ["rs_name", "text"],
  ["rs_find", "map<text, text>"],
];
const CELERY_COLUMNS = ["task_id", "status", "result", "date_done", "traceback", "children"];
const COLUMNS: Record<TableKind, string> = {
  tasks:
    "(task_id text, status text, result blob, date_done timestamp, traceback blob, children blob, " +
    `${STATIC_COLUMNS.map(([name, type]) => `${name} ${type} static`).join(", ")}, ` +
    "PRIMARY KEY ((task_id), date_done)) WITH CLUSTERING ORDER BY (date_done DESC)",
  groups: "(group_id text PRIMARY KEY, result blob, date_done timestamp, expires_at timestamp)",
  counters: "(key text PRIMARY KEY, value bigint, expires_at timestamp)",
  sets: "(key text PRIMARY KEY, members map<text, timestamp>)",
};

/** How long a store waits for schema agreement, or for a table another store is creating. */
const SCHEMA_WAIT_MS = 30_000;

/** The caller's client, or ours, built now (bad driver options fail in the constructor). */
export function createClient(config: ResolvedConfig): Client {
  if ("given" in config.client) return config.client.given;
  try {
    const client = new cassandra.Client(config.client.build);
    guardControlRefresh(client);
    return client;
  } catch (cause) {
    const message = `Invalid driver options: ${(cause as Error).message}`;
    throw new ConfigurationError(BACKEND_NAME, message, { cause });
  }
}

/** What the guard below touches of the driver's (internal) ControlConnection. */
type Control = { _refresh?: (hosts?: unknown) => Promise<void>; _isShuttingDown?: boolean };

/**
 * Lets one control-connection refresh run at a time, and retries one that failed: two at once end
 * the process (NODEJS-681; README: A guard around the driver's reconnection). Call it on a client
 * you pass in. Internal API: on a driver without it the guard does nothing.
 */
export function guardControlRefresh(client: Client): void {
  const control = (client as unknown as { controlConnection?: Control }).controlConnection;
  const refresh = control?._refresh;
  if (!control || typeof refresh !== "function") return;
  let running = false;
  control._refresh = async function guardedRefresh(hostIterator?: unknown): Promise<void> {
    // With an iterator the driver is retrying inside the refresh that is running: let it.
    if (hostIterator !== undefined) return refresh.call(this, hostIterator);
    if (running) return;
    running = true;
    try {
      await refresh.call(this);
    } catch (error) {
      // Reported as the driver reports its own, and retried later as it retries a failed refresh.
      client.emit("log", "error", "ControlConnection", "Control connection refresh failed", error);
      if (!control._isShuttingDown)
        void setTimeout(1000, undefined, { ref: false }).then(() => void control._refresh?.());
    } finally {
      running = false;
    }
  };
}

/** Creates what is missing, once per table per store; the rest of the store waits on it. */
export class Schema {
  // A failure (server down) is not kept: the next call tries again.
  private readonly keyspace = new Lazy(() => this.createKeyspace());
  private readonly tables = new Map<TableKind, Lazy<void>>();

  constructor(
    private readonly connection: Lazy<Client>,
    private readonly config: ResolvedConfig,
  ) {}

  /** The client, once the `kind` table is usable. Nothing of the caller's call is sent before. */
  async ready(kind: TableKind): Promise<Client> {
    try {
      const table = this.tables.get(kind) ?? new Lazy(() => this.provision(kind));
      this.tables.set(kind, table);
      await table.get();
      return await this.connection.get();
    } catch (error) {
      throw beforeSending(error, `provisioning of table ${this.config.names[kind]}`);
    }
  }

  private async provision(kind: TableKind): Promise<void> {
    const client = await this.connection.get();
    await this.keyspace.get();
    const table = qualified(this.config.names, kind);
    const create = `CREATE TABLE IF NOT EXISTS ${table} ${COLUMNS[kind]}`;
    if (kind === "tasks") await this.provisionTaskTable(client, create);
    else if (this.config.createTables) await ddl(client, create);
    // IF NOT EXISTS: stores starting at once each send it; one coordinator (ddl) keeps one id.
    if (kind === "tasks" && this.config.createTables)
      for (const index of findIndexes(this.config.names)) await ddl(client, index);
    // A table just created (by any store) is "unconfigured" until the server applied it: wait
    // that out, once. Without createTables nobody here creates it: missing is an error at once.
    const wait = this.config.createTables ? SCHEMA_WAIT_MS : 0;
    if (wait) await awaitOnEveryNode(client, tableSchema(this.config.names.keyspace, table));
    const columns = kind === "tasks" ? STATIC_COLUMNS.map(([name]) => name).join(", ") : "*";
    const probe = `SELECT ${columns} FROM ${table} LIMIT 1`;
    for (const deadline = Date.now() + wait; ; await setTimeout(100)) {
      try {
        await client.execute(probe);
        return;
      } catch (error) {
        const message = String((error as Error).message);
        const missing = /does not exist|unconfigured table|undefined column/i.test(message);
        if (!missing || Date.now() > deadline) throw error;
      }
    }
  }

  private async createKeyspace(): Promise<void> {
    if (!this.config.ownKeyspace) return;
    const client = await this.connection.get();
    const { names, replication } = this.config;
    const cql = `CREATE KEYSPACE IF NOT EXISTS "${names.keyspace}" WITH replication = ${replication}`;
    await ddl(client, cql);
    await awaitOnEveryNode(client, keyspaceSchema(names.keyspace));
  }

  /** Celery's table may exist without our columns (Celery created it): add them, never drop any. */
  private async provisionTaskTable(client: Client, create: string): Promise<void> {
    const { keyspace, tasks } = this.config.names;
    const refuse = (problem: string) =>
      new BackendError(BACKEND_NAME, `Table ${keyspace}.${tasks} ${problem}`);
    const found = await client.execute(
      "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
      [keyspace, tasks],
      { prepare: true },
    );
    const columns = new Set(found.rows.map((row) => String(row.column_name)));
    if (columns.size === 0) {
      if (!this.config.createTables) throw refuse("does not exist and createTables is false.");
      await ddl(client, create);
      return;
    }
    const missingCelery = CELERY_COLUMNS.filter((name) => !columns.has(name));
    if (missingCelery.length > 0)
      throw refuse(`is not Celery's task table (no ${missingCelery.join(", ")}).`);
    for (const [name, type] of STATIC_COLUMNS.filter(([name]) => !columns.has(name))) {
      const column = `ADD ${name} ${type} static`;
      if (!this.config.createTables)
        throw refuse(
          `lacks column ${name}; run ALTER TABLE ${keyspace}.${tasks} ${column}, or allow createTables.`,
        );
      // Another store may have added it meanwhile.
      const alter = ddl(client, `ALTER TABLE ${qualified(this.config.names, "tasks")} ${column}`);
      await alter.catch((error: Error) => {
        if (!/already exist/i.test(String(error.message))) throw error;
      });
    }
  }

  /** DROP for tables made for a namespace, TRUNCATE for configured ones; the keyspace if ours. */
  async destroy(): Promise<void> {
    const client = await this.connection.get();
    const { names, ownKeyspace, ownTables } = this.config;
    if (ownKeyspace) {
      await ddl(client, `DROP KEYSPACE IF EXISTS "${names.keyspace}"`);
    } else {
      // Every table of ours that exists, whichever store created it.
      const found = await client.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
        [names.keyspace],
        { prepare: true },
      );
      const existing = new Set(found.rows.map((row) => String(row.table_name)));
      const kinds = Object.keys(COLUMNS) as TableKind[];
      for (const kind of kinds.filter((kind) => existing.has(names[kind]))) {
        const table = qualified(names, kind);
        await ddl(client, ownTables ? `DROP TABLE ${table}` : `TRUNCATE ${table}`);
      }
    }
    this.tables.clear();
    this.keyspace.reset();
  }
}

/**
 * Every schema change goes to one coordinator, the first live node by address: Cassandra 5.0 has
 * no DDL lock, and a table created at once through two nodes gets two ids (README: cluster).
 */
function ddl(client: Client, cql: string) {
  const hosts = client.hosts
    .values()
    .filter((host) => host.isUp())
    .sort((a, b) => a.address.localeCompare(b.address));
  return client.execute(cql, [], hosts[0] ? { host: hosts[0] } : {});
}

/** One node's view of a schema object, as text that must read the same on every node. */
type SchemaQuestion = (
  ask: (cql: string, params: string[]) => Promise<cassandra.types.Row[]>,
) => Promise<string>;

/** The keyspace's replication, as one node knows it. */
function keyspaceSchema(keyspace: string): SchemaQuestion {
  return async (ask) => {
    const rows = await ask(
      "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
      [keyspace],
    );
    return rows.length === 0 ? "" : JSON.stringify(rows[0]?.get("replication"));
  };
}

/** The table's id, columns and indexes, as one node knows them (`table` as `qualified` writes it). */
function tableSchema(keyspace: string, table: string): SchemaQuestion {
  const name = table.slice(table.lastIndexOf(".") + 1).replaceAll('"', "");
  return async (ask) => {
    const where = "WHERE keyspace_name = ? AND table_name = ?";
    const [tables, columns, indexes] = await Promise.all([
      ask(`SELECT id FROM system_schema.tables ${where}`, [keyspace, name]),
      ask(`SELECT column_name FROM system_schema.columns ${where}`, [keyspace, name]),
      ask(`SELECT index_name FROM system_schema.indexes ${where}`, [keyspace, name]),
    ]);
    if (tables.length === 0) return "";
    const names = (rows: cassandra.types.Row[], column: string) =>
      rows.map((row) => String(row.get(column))).sort();
    return `${String(tables[0]?.get("id"))} ${names(columns, "column_name")} ${names(indexes, "index_name")}`;
  };
}

/**
 * Waits until every live node answers `question` alike, and not with nothing: schema changes
 * reach other nodes by gossip, and a replica without the table fails the reads and writes it
 * takes part in ("Server failure during read query"), even once the coordinator that made the
 * change and the driver's own schema-agreement check are satisfied. Found by CI's cluster proof
 * (four processes starting on fresh tables). After `SCHEMA_WAIT_MS` it goes on: the calls then
 * report what is still wrong. Each node is asked directly; `system_schema` is node-local.
 */
async function awaitOnEveryNode(client: Client, question: SchemaQuestion): Promise<void> {
  for (const deadline = Date.now() + SCHEMA_WAIT_MS; Date.now() < deadline; await setTimeout(200)) {
    const live = client.hosts.values().filter((host) => host.isUp());
    // A node that went down meanwhile has no say; the others still must agree.
    const answers = await Promise.all(
      live.map((host) => nodeView(client, host, question).catch(() => undefined)),
    );
    const known = answers.filter((answer) => answer !== undefined);
    if (known.length > 0 && known.every((answer) => answer && answer === known[0])) return;
  }
}

/**
 * `question`'s answer on `host` alone, with the node's schema version: a node writes
 * system_schema before it applies the change, and updates its version after.
 */
async function nodeView(client: Client, host: cassandra.Host, question: SchemaQuestion) {
  const ask = async (cql: string, params: string[] = []) =>
    (await client.execute(cql, params, { prepare: true, host })).rows;
  const [seen, local] = await Promise.all([
    question(ask),
    ask("SELECT schema_version FROM system.local"),
  ]);
  return seen && `${seen} @${String(local[0]?.get("schema_version"))}`;
}
