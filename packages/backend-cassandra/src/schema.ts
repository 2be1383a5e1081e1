/**
 * Tables and statements. The task table is Celery's (CELERY-COMPAT.md §5) plus static columns of
 * ours: static cells belong to the partition, so they outlive Celery's row-per-write history, and
 * Celery's reads, which name their own columns, never see them.
 */
import { BackendError, ConfigurationError } from "@resultstore/core";
import { Lazy } from "@resultstore/core/backend";
import type { Client } from "cassandra-driver";
import { BACKEND_NAME, type ResolvedConfig, type TableNames } from "./config.js";

/** Our static columns on Celery's table. */
const STATIC_COLUMNS: readonly [string, string][] = [
  // Bumped by every write: the guard's condition for stores that predate rs_token (during a
  // rolling upgrade), and a count of writes. It restarts after `forget` or expiry, so it cannot
  // be the guard alone: a stalled writer holding version N would pass on a re-created record.
  ["rs_version", "int"],
  // A fresh random UUID per write: the guard's token, never repeated across re-creations.
  ["rs_token", "uuid"],
  // Everything Celery's row has no column for: metadata and the extended request fields (JSON).
  ["rs_meta", "blob"],
  // The record's expiry to the millisecond (TTL is whole seconds).
  ["rs_expires_at", "timestamp"],
];
const CELERY_COLUMNS = ["task_id", "status", "result", "date_done", "traceback", "children"];

const q = (name: string) => `"${name}"`;
/** How long a store waits for a table another store is creating at the same moment. */
const SCHEMA_WAIT_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every CQL text the backend runs; names are validated identifiers, values are always bound. */
export function statements(names: TableNames) {
  const tasks = `${q(names.keyspace)}.${q(names.tasks)}`;
  const groups = `${q(names.keyspace)}.${q(names.groups)}`;
  const counters = `${q(names.keyspace)}.${q(names.counters)}`;
  const sets = `${q(names.keyspace)}.${q(names.sets)}`;
  return {
    readTask: `SELECT status, result, date_done, traceback, children, rs_meta, rs_expires_at, TTL(status) AS ttl FROM ${tasks} WHERE task_id = ? LIMIT 1`,
    /** `readTask` for many ids: the newest row of each partition. */
    readTasks: `SELECT task_id, status, result, date_done, traceback, children, rs_meta, rs_expires_at, TTL(status) AS ttl FROM ${tasks} WHERE task_id IN ? PER PARTITION LIMIT 1`,
    /** What the guard needs: no result or traceback, which may be megabytes. */
    readGuard: `SELECT status, date_done, children, rs_version, rs_token, rs_meta, rs_expires_at, TTL(status) AS ttl FROM ${tasks} WHERE task_id = ? LIMIT 1`,
    guardedStatics: `UPDATE ${tasks} USING TTL ? SET rs_version = ?, rs_token = ?, rs_meta = ?, rs_expires_at = ? WHERE task_id = ? IF rs_version = ? AND rs_token = ?`,
    plainStatics: `UPDATE ${tasks} USING TTL ? SET rs_version = ?, rs_token = ?, rs_meta = ?, rs_expires_at = ? WHERE task_id = ?`,
    insertRow: `INSERT INTO ${tasks} (task_id, date_done, status, result, traceback, children) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?`,
    deleteRow: `DELETE FROM ${tasks} WHERE task_id = ? AND date_done = ?`,
    deleteTask: `DELETE FROM ${tasks} WHERE task_id = ?`,
    saveGroup: `INSERT INTO ${groups} (group_id, result, date_done, expires_at) VALUES (?, ?, ?, ?) USING TTL ?`,
    readGroup: `SELECT result, date_done, expires_at FROM ${groups} WHERE group_id = ?`,
    deleteGroup: `DELETE FROM ${groups} WHERE group_id = ?`,
    readCounter: `SELECT value, expires_at FROM ${counters} WHERE key = ?`,
    createCounter: `INSERT INTO ${counters} (key, value, expires_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?`,
    updateCounter: `UPDATE ${counters} USING TTL ? SET value = ?, expires_at = ? WHERE key = ? IF value = ? AND expires_at = ?`,
    deleteCounter: `DELETE FROM ${counters} WHERE key = ?`,
    readSet: `SELECT members FROM ${sets} WHERE key = ?`,
    /** Adds or refreshes members: a map of member → the set's expiry; idempotent, no Paxos. */
    addToSet: `UPDATE ${sets} USING TTL ? SET members = members + ? WHERE key = ?`,
  };
}

export type Statements = ReturnType<typeof statements>;
export type TableKind = "tasks" | "groups" | "counters" | "sets";

function createTableCql(names: TableNames, kind: TableKind): string {
  const table = `${q(names.keyspace)}.${q(names[kind])}`;
  switch (kind) {
    case "tasks":
      return (
        `CREATE TABLE IF NOT EXISTS ${table} (task_id text, status text, result blob, date_done timestamp, ` +
        `traceback blob, children blob, ${STATIC_COLUMNS.map(([n, t]) => `${n} ${t} static`).join(", ")}, ` +
        "PRIMARY KEY ((task_id), date_done)) WITH CLUSTERING ORDER BY (date_done DESC)"
      );
    case "groups":
      return `CREATE TABLE IF NOT EXISTS ${table} (group_id text PRIMARY KEY, result blob, date_done timestamp, expires_at timestamp)`;
    case "counters":
      return `CREATE TABLE IF NOT EXISTS ${table} (key text PRIMARY KEY, value bigint, expires_at timestamp)`;
    case "sets":
      return `CREATE TABLE IF NOT EXISTS ${table} (key text PRIMARY KEY, members map<text, timestamp>)`;
  }
}

function replicationCql(replication: Record<string, string | number>): string {
  const entries = Object.entries(replication).map(([key, value]) => {
    if (!/^[A-Za-z0-9_.]+$/.test(key) || !/^[A-Za-z0-9_.]+$/.test(String(value))) {
      throw new ConfigurationError(
        BACKEND_NAME,
        `Option \`keyspaceReplication\` has an unsafe entry ${JSON.stringify(key)}.`,
      );
    }
    return `'${key}': '${value}'`;
  });
  return `{${entries.join(", ")}}`;
}

/** Creates what is missing, once per table per store; the rest of the store waits on it. */
export class Schema {
  // A failure (server down) is not kept: the next call tries again.
  private readonly keyspace = new Lazy(() => this.ensureKeyspace());
  private readonly tables = new Map<TableKind, Lazy<void>>();

  constructor(
    private readonly client: () => Promise<Client>,
    private readonly config: ResolvedConfig,
  ) {}

  ensure(kind: TableKind): Promise<void> {
    let table = this.tables.get(kind);
    if (!table) {
      table = new Lazy(async () => {
        await this.keyspace.get();
        await (kind === "tasks" ? this.ensureTaskTable() : this.ensureTable(kind));
        await this.awaitUsable(kind);
      });
      this.tables.set(kind, table);
    }
    return table.get();
  }

  private async ensureKeyspace(): Promise<void> {
    if (!this.config.ownKeyspace) return;
    const client = await this.client();
    await ddl(
      client,
      `CREATE KEYSPACE IF NOT EXISTS ${q(this.config.names.keyspace)} WITH replication = ${replicationCql(this.config.replication)}`,
    );
    await awaitSchemaAgreement(client);
  }

  private async ensureTable(kind: TableKind): Promise<void> {
    if (!this.config.createTables) return;
    const client = await this.client();
    await ddl(client, createTableCql(this.config.names, kind));
    await awaitSchemaAgreement(client);
  }

  /** Celery's table may exist without our columns (Celery created it): add them, never drop any. */
  private async ensureTaskTable(): Promise<void> {
    const client = await this.client();
    const { keyspace, tasks } = this.config.names;
    const found = await client.execute(
      "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
      [keyspace, tasks],
      { prepare: true },
    );
    const columns = new Set(found.rows.map((row) => String(row.column_name)));
    if (columns.size === 0) {
      if (!this.config.createTables) {
        throw new BackendError(
          BACKEND_NAME,
          `Table ${keyspace}.${tasks} does not exist and createTables is false.`,
        );
      }
      await ddl(client, createTableCql(this.config.names, "tasks"));
      return;
    }
    const missingCelery = CELERY_COLUMNS.filter((name) => !columns.has(name));
    if (missingCelery.length > 0) {
      throw new BackendError(
        BACKEND_NAME,
        `Table ${keyspace}.${tasks} is not Celery's task table (no ${missingCelery.join(", ")}).`,
      );
    }
    for (const [name, type] of STATIC_COLUMNS.filter(([name]) => !columns.has(name))) {
      if (!this.config.createTables) {
        throw new BackendError(
          BACKEND_NAME,
          `Table ${keyspace}.${tasks} lacks column ${name}; ` +
            `run ALTER TABLE ${keyspace}.${tasks} ADD ${name} ${type} static, or allow createTables.`,
        );
      }
      try {
        await ddl(client, `ALTER TABLE ${q(keyspace)}.${q(tasks)} ADD ${name} ${type} static`);
      } catch (error) {
        // Another store may have added it meanwhile.
        if (!/already exist/i.test(String((error as Error).message))) throw error;
      }
    }
  }

  /**
   * Stores starting together all see the table missing and all create it; until the server has
   * applied that change, statements on the table fail with "does not exist". Wait it out once here.
   */
  private async awaitUsable(kind: TableKind): Promise<void> {
    const client = await this.client();
    const table = `${q(this.config.names.keyspace)}.${q(this.config.names[kind])}`;
    const probe = `SELECT ${kind === "tasks" ? STATIC_COLUMNS.map(([n]) => n).join(", ") : "*"} FROM ${table} LIMIT 1`;
    // Without createTables nobody here is creating it: a missing table is an error at once.
    const wait = this.config.createTables ? SCHEMA_WAIT_MS : 0;
    if (wait) await awaitSchemaAgreement(client);
    for (const deadline = Date.now() + wait; ; await sleep(100)) {
      try {
        await client.execute(probe);
        return;
      } catch (error) {
        const missing = /does not exist|unconfigured table|undefined column/i.test(
          String((error as Error).message),
        );
        if (!missing || Date.now() > deadline) throw error;
      }
    }
  }

  /** DROP for tables made for a namespace, TRUNCATE for configured ones; the keyspace if ours. */
  async destroy(): Promise<void> {
    const client = await this.client();
    const { keyspace } = this.config.names;
    if (this.config.ownKeyspace) {
      await ddl(client, `DROP KEYSPACE IF EXISTS ${q(keyspace)}`);
    } else {
      // Every table of ours that exists, whichever store created it.
      const found = await client.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
        [keyspace],
        { prepare: true },
      );
      const existing = new Set(found.rows.map((row) => String(row.table_name)));
      const kinds: TableKind[] = ["tasks", "groups", "counters", "sets"];
      for (const name of kinds
        .map((kind) => this.config.names[kind])
        .filter((n) => existing.has(n))) {
        const table = `${q(keyspace)}.${q(name)}`;
        await ddl(client, this.config.ownTables ? `DROP TABLE ${table}` : `TRUNCATE ${table}`);
      }
    }
    this.tables.clear();
    this.keyspace.reset();
  }
}

/**
 * Every schema change goes to one coordinator: the first live node by address, the same for every
 * client. Cassandra 5.0 has no cluster-wide DDL lock, so two clients creating the same table at
 * once through different nodes (stores starting together do) give it two table ids, and the
 * cluster's schema then never agrees again; through one node, IF NOT EXISTS serialises them.
 */
function ddl(client: Client, cql: string) {
  const hosts = client.hosts
    .values()
    .filter((host) => host.isUp())
    .sort((a, b) => a.address.localeCompare(b.address));
  return client.execute(cql, [], hosts[0] ? { host: hosts[0] } : {});
}

/** Metadata#checkSchemaAgreement exists in the driver (4.x) but is missing from its typings. */
interface SchemaCheck {
  checkSchemaAgreement(): Promise<boolean>;
}

/**
 * On a cluster a schema change reaches the other nodes by gossip, seconds later on a busy machine:
 * a replica without the new table fails reads ("… replicas responded, 1 failed"), a coordinator
 * without the keyspace refuses the CREATE TABLE. The driver waits for agreement after each DDL
 * for at most `maxSchemaAgreementWaitSeconds` (10 s) and then carries on regardless, so wait here
 * until every live node reports the same schema version (bounded by SCHEMA_WAIT_MS).
 */
async function awaitSchemaAgreement(client: Client): Promise<void> {
  for (const deadline = Date.now() + SCHEMA_WAIT_MS; Date.now() < deadline; await sleep(200)) {
    if (await (client.metadata as unknown as SchemaCheck).checkSchemaAgreement()) return;
  }
}
