/** The few Consul endpoints we use: KV reads, /v1/txn, delete-cas and sessions. */
import { BackendError } from "@resultstore/core";
import { BACKEND_NAME, type ConsulConfig } from "./config.js";
import { errors, StatusFailure } from "./errors.js";
import { ConsulHttp, type HttpResponse, keyPath } from "./http.js";

/** One KV entry as Consul holds it. */
export interface KvEntry {
  key: string;
  /** The value as UTF-8 text ("" for an empty value). */
  value: string;
  /** Changes on every write: what check-and-set compares. */
  modifyIndex: number;
  /** The session holding the key's lock, if any (its TTL is the key's native expiry). */
  session: string | null;
}

/** One KV operation of a /v1/txn transaction (Consul's verbs, values as text). */
export type TxnOp =
  | { verb: "check-index"; key: string; index: number }
  | { verb: "check-not-exists"; key: string }
  | { verb: "set"; key: string; value: string }
  | { verb: "lock"; key: string; value: string; session: string }
  | { verb: "unlock"; key: string; session: string; value?: string }
  | { verb: "delete-tree"; key: string };

export interface TxnFailure {
  opIndex: number;
  what: string;
}

/** Consul's cap on the operations of one /v1/txn (`limits.txn_max_ops`' default). */
export const TXN_MAX_OPS = 64;

/** Consul's own cap on a /v1/txn body (`limits.txn_max_req_len`, raft's suggested 512 KB). */
export const TXN_MAX_BODY_BYTES = 512 * 1024;

interface RawEntry {
  Key: string;
  Value: string | null;
  ModifyIndex: number;
  Session?: string;
}

function toEntry(raw: RawEntry): KvEntry {
  return {
    key: raw.Key,
    value: raw.Value ? Buffer.from(raw.Value, "base64").toString("utf8") : "",
    modifyIndex: raw.ModifyIndex,
    session: raw.Session || null,
  };
}

function encodeOp(op: TxnOp): { KV: Record<string, unknown> } {
  const kv: Record<string, unknown> = { Verb: op.verb, Key: op.key };
  if ("index" in op) kv.Index = op.index;
  if ("value" in op && op.value !== undefined)
    kv.Value = Buffer.from(op.value, "utf8").toString("base64");
  if ("session" in op) kv.Session = op.session;
  return { KV: kv };
}

export class ConsulKv {
  readonly http: ConsulHttp;

  constructor(private readonly config: ConsulConfig) {
    this.http = new ConsulHttp(config);
  }

  private consistencyQuery(forWrite = false): Record<string, true | undefined> {
    const mode = this.config.consistency;
    // The read a check-and-set is based on needs no leadership check (`consistent`): the index
    // check at commit catches anything it missed. Stale followers would only buy conflicts, so
    // it always reads the leader in default mode.
    if (mode === "default" || forWrite) return {};
    return { [mode]: true };
  }

  /** The entry, or null. `forWrite`: the read a check-and-set will be based on. */
  async get(key: string, options: { forWrite?: boolean } = {}): Promise<KvEntry | null> {
    const query = this.consistencyQuery(options.forWrite);
    const response = await this.http.request("GET", `/v1/kv/${keyPath(key)}`, query);
    if (response.status === 404) return null;
    const [raw] = parseJson<RawEntry[]>(ok(response, "KV read"), "KV read");
    return raw ? toEntry(raw) : null;
  }

  /**
   * The entries of `keys` (null where absent), read by read-only transactions of at most
   * `TXN_MAX_OPS` ops, all in flight at once. Each op is a `get-tree` of the exact key, since a
   * transaction `get` of a missing key fails the whole transaction; a `get-tree` also lists keys
   * that merely start with it, which are ignored.
   */
  async getMany(keys: readonly string[]): Promise<(KvEntry | null)[]> {
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += TXN_MAX_OPS) batches.push(keys.slice(i, i + TXN_MAX_OPS));
    const found = new Map<string, KvEntry>();
    await Promise.all(
      batches.map(async (batch) => {
        const body = JSON.stringify(batch.map((key) => ({ KV: { Verb: "get-tree", Key: key } })));
        const response = await this.http.request("PUT", "/v1/txn", this.consistencyQuery(), body);
        const answer = parseJson<{ Results: { KV: RawEntry }[] | null }>(
          ok(response, "KV transaction read"),
          "KV transaction read",
        );
        for (const { KV } of answer.Results ?? []) found.set(KV.Key, toEntry(KV));
      }),
    );
    return keys.map((key) => found.get(key) ?? null);
  }

  /**
   * The names (no values) of every key that starts with `prefix`: what cleanup() pages through,
   * reading values 64 keys at a time, instead of one answer holding every value of the namespace.
   */
  async listKeys(prefix: string): Promise<string[]> {
    const response = await this.http.request("GET", `/v1/kv/${keyPath(prefix)}`, {
      keys: true,
      ...this.consistencyQuery(),
    });
    if (response.status === 404) return [];
    return parseJson<string[]>(ok(response, "KV key list"), "KV key list");
  }

  /** Runs `ops` atomically. Null when it committed; the failing ops when Consul rolled it back. */
  async txn(ops: readonly TxnOp[]): Promise<TxnFailure[] | null> {
    const body = JSON.stringify(ops.map(encodeOp));
    const response = await this.http.request("PUT", "/v1/txn", {}, body, true);
    if (response.status === 200) return null;
    if (response.status === 409) {
      const parsed = parseJson<{ Errors?: { OpIndex: number; What: string }[] | null }>(
        response.body,
        "transaction",
      );
      return (parsed.Errors ?? []).map((e) => ({ opIndex: e.OpIndex, what: e.What }));
    }
    // Any other answer to a write transaction may come after Consul applied it (see errors.ts).
    throw errors.wrapError(
      new StatusFailure(response.status, response.body, true),
      "KV transaction",
    );
  }

  /** Deletes `key` only while its ModifyIndex is still `index`; whether it did. */
  async deleteCas(key: string, index: number): Promise<boolean> {
    const response = await this.http.request(
      "DELETE",
      `/v1/kv/${keyPath(key)}`,
      { cas: index },
      undefined,
      true,
    );
    return ok(response, "KV delete", true).trim() === "true";
  }

  async delete(key: string): Promise<void> {
    const response = await this.http.request(
      "DELETE",
      `/v1/kv/${keyPath(key)}`,
      {},
      undefined,
      true,
    );
    ok(response, "KV delete", true);
  }

  /**
   * A session that deletes the keys it holds when it expires. No health checks, so no failing
   * check ends it (a default session dies with the agent's serfHealth), and no lock-delay, so a key
   * can be written again at once after its session deleted it. It still belongs to a node (the
   * agent's own, or `sessionNode`): Consul invalidates every session of a node that is
   * deregistered, checks or not, and so deletes the keys they hold (see the README).
   */
  async createSession(name: string, ttlSeconds: number): Promise<string> {
    const body = JSON.stringify({
      Name: name,
      ...(this.config.sessionNode ? { Node: this.config.sessionNode } : {}),
      TTL: `${ttlSeconds}s`,
      Behavior: "delete",
      LockDelay: "0s",
      NodeChecks: [],
      Checks: [],
    });
    const response = await this.http.request("PUT", "/v1/session/create", {}, body);
    return parseJson<{ ID: string }>(ok(response, "session create"), "session create").ID;
  }

  /** The agent's node name and whether it is a server; null when the token may not read it. */
  async agentSelf(): Promise<{ node: string; server: boolean } | null> {
    const response = await this.http.request("GET", "/v1/agent/self");
    if (response.status !== 200) return null;
    const self = parseJson<{ Config?: { NodeName?: string; Server?: boolean } }>(
      response.body,
      "agent self",
    );
    return { node: self.Config?.NodeName ?? "?", server: self.Config?.Server === true };
  }

  async sessionInfo(id: string): Promise<{ ttl: string; behavior: string } | null> {
    const response = await this.http.request("GET", `/v1/session/info/${encodeURIComponent(id)}`);
    const [raw] =
      parseJson<{ TTL: string; Behavior: string }[] | null>(
        ok(response, "session info"),
        "session info",
      ) ?? [];
    return raw ? { ttl: raw.TTL, behavior: raw.Behavior } : null;
  }

  async destroySession(id: string): Promise<void> {
    ok(
      await this.http.request("PUT", `/v1/session/destroy/${encodeURIComponent(id)}`),
      "session destroy",
      true,
    );
  }

  close(): void {
    this.http.close();
  }
}

/** The body of a 200 answer; any other is a typed error (`write`: the request asked for a change). */
function ok(response: HttpResponse, what: string, write = false): string {
  if (response.status !== 200)
    throw errors.wrapError(new StatusFailure(response.status, response.body, write), what);
  return response.body;
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new BackendError(BACKEND_NAME, `Consul's ${what} answer is not JSON.`, { cause });
  }
}
