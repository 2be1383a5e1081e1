/**
 * Our own Consul client over node:http(s) or the caller's `fetch` (README: "No driver peer
 * dependency"). Failures are `TransportFailure`/`StatusFailure`: the status, never the token.
 */
import http from "node:http";
import https from "node:https";
import { chunks, mapLimit } from "@resultstore/core/backend";
import type { ResolvedConfig } from "./config.js";
import { StatusFailure, TransportFailure } from "./errors.js";

/** One KV entry as Consul holds it, its value as UTF-8 text. */
export interface KvEntry {
  key: string;
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

/** Consul's own cap on a /v1/txn body (`limits.txn_max_req_len`, raft's suggested 512 KB). */
export const TXN_MAX_BODY_BYTES = 512 * 1024;
/** Consul's cap on the operations of one /v1/txn (`limits.txn_max_ops`' default). */
const TXN_MAX_OPS = 64;

/** Query values: `true` sends a bare flag (`?consistent`), undefined leaves the key out. */
type Query = Record<string, string | number | true | undefined>;
type RawEntry = { Key: string; Value: string | null; ModifyIndex: number; Session?: string };
type Answer = { status: number; body: string };
type Init = { method: string; headers: Record<string, string>; body?: string };

const toEntry = (raw: RawEntry): KvEntry => ({
  key: raw.Key,
  value: raw.Value ? Buffer.from(raw.Value, "base64").toString("utf8") : "",
  modifyIndex: raw.ModifyIndex,
  session: raw.Session || null,
});

function encodeOp(op: TxnOp): { KV: Record<string, unknown> } {
  const kv: Record<string, unknown> = { Verb: op.verb, Key: op.key };
  if ("index" in op) kv.Index = op.index;
  if ("value" in op && op.value !== undefined) kv.Value = Buffer.from(op.value).toString("base64");
  if ("session" in op) kv.Session = op.session;
  return { KV: kv };
}

/** Delete on expiry, no lock-delay, no health checks (README: "Session settings"). */
const SESSION_POLICY = { Behavior: "delete", LockDelay: "0s", NodeChecks: [], Checks: [] };

/** A key's URL path: each segment escaped, the slashes kept. */
const kvPath = (key: string) => `/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}`;

export class ConsulClient {
  private readonly agent: http.Agent | undefined;

  constructor(private readonly config: ResolvedConfig) {
    if (config.fetch) return;
    // Reuse is most of a small request's latency; 64 sockets: our widest concurrency per process.
    const base = { keepAlive: true, maxSockets: 64 };
    const servername = config.tls.servername ?? config.host;
    this.agent =
      config.scheme === "https"
        ? new https.Agent({ ...base, ...config.tls, servername })
        : new http.Agent(base);
  }

  /** The entry, or null. `forWrite`: the read a check-and-set will be based on. */
  async get(key: string, forWrite = false): Promise<KvEntry | null> {
    const query = this.consistency(forWrite);
    const answer = await this.request("GET", kvPath(key), { query, also: [404] });
    const [raw] = answer.status === 404 ? [] : (JSON.parse(answer.body) as RawEntry[]);
    return raw ? toEntry(raw) : null;
  }

  /** The entries of `keys`, null where absent (`get-tree`: a missing key's `get` fails all). */
  async getMany(keys: readonly string[]): Promise<(KvEntry | null)[]> {
    const found = new Map<string, KvEntry>();
    const read = async (batch: string[]) => {
      const body = JSON.stringify(batch.map((key) => ({ KV: { Verb: "get-tree", Key: key } })));
      const answer = await this.request("PUT", "/v1/txn", { query: this.consistency(), body });
      const { Results } = JSON.parse(answer.body) as { Results: { KV: RawEntry }[] | null };
      for (const { KV } of Results ?? []) found.set(KV.Key, toEntry(KV));
    };
    await Promise.all(chunks(keys, TXN_MAX_OPS).map(read));
    return keys.map((key) => found.get(key) ?? null);
  }

  /**
   * `visit`s the entries of `keys` one read-only transaction of TXN_MAX_OPS keys at a time, at
   * most `inFlight` in flight, and keeps none: memory stays bounded whatever the number of keys.
   */
  async forEachBatch(
    keys: readonly string[],
    inFlight: number,
    visit: (entries: (KvEntry | null)[]) => unknown,
  ): Promise<void> {
    await mapLimit(chunks(keys, TXN_MAX_OPS), inFlight, async (batch) => {
      await visit(await this.getMany(batch));
    });
  }

  /** Key names under `prefix`; with `separator`, the keys past it fold into one name per folder. */
  async listKeys(prefix: string, separator?: string): Promise<string[]> {
    const query = { keys: true, separator, ...this.consistency() } as const;
    const answer = await this.request("GET", kvPath(prefix), { query, also: [404] });
    return answer.status === 404 ? [] : (JSON.parse(answer.body) as string[]);
  }

  /** Runs `ops` atomically: null when it committed, the failed ops when Consul rolled it back. */
  async txn(ops: readonly TxnOp[]): Promise<{ opIndex: number; what: string }[] | null> {
    const body = JSON.stringify(ops.map(encodeOp));
    const answer = await this.request("PUT", "/v1/txn", { body, change: true, also: [409] });
    if (answer.status === 200) return null;
    type Failed = { Errors: { OpIndex: number; What: string }[] | null };
    const { Errors } = JSON.parse(answer.body) as Failed;
    return (Errors ?? []).map((e) => ({ opIndex: e.OpIndex, what: e.What }));
  }

  /** Deletes `key`; with `index`, only while its ModifyIndex is still that. Whether it did. */
  async delete(key: string, index?: number): Promise<boolean> {
    const request = { query: { cas: index }, change: true };
    return (await this.request("DELETE", kvPath(key), request)).body.trim() === "true";
  }

  /** A session of `SESSION_POLICY` on `sessionNode` (the agent's own node when undefined). */
  async createSession(name: string, ttlSeconds: number): Promise<string> {
    const session = { Name: name, Node: this.config.sessionNode, TTL: `${ttlSeconds}s` };
    const body = JSON.stringify({ ...session, ...SESSION_POLICY });
    const answer = await this.request("PUT", "/v1/session/create", { body });
    return (JSON.parse(answer.body) as { ID: string }).ID;
  }

  async destroySession(id: string): Promise<void> {
    await this.request("PUT", `/v1/session/destroy/${encodeURIComponent(id)}`, { change: true });
  }

  async agentSelf(): Promise<{ node: string; server: boolean }> {
    const answer = await this.request("GET", "/v1/agent/self");
    const { Config } = JSON.parse(answer.body) as { Config?: { NodeName?: string; Server?: true } };
    return { node: Config?.NodeName ?? "?", server: Config?.Server === true };
  }

  close(): void {
    this.agent?.destroy();
  }

  /** A check-and-set's read needs no leadership check: its commit checks the index (README). */
  private consistency(forWrite = false): Query {
    const mode = this.config.consistency;
    return mode === "default" || forWrite ? {} : { [mode]: true };
  }

  /** `change`: a 5xx or a failure after sending may leave it applied (errors.ts). */
  private async request(
    method: string,
    path: string,
    options: { query?: Query; body?: string; change?: boolean; also?: number[] } = {},
  ): Promise<Answer> {
    const { query = {}, body, change = false, also = [] } = options;
    const params = Object.entries({ dc: this.config.datacenter, ...query } as Query).flatMap(
      ([key, value]) =>
        value === true ? [key] : value === undefined ? [] : [`${key}=${encodeURIComponent(value)}`],
    );
    const url = `${this.config.baseUrl}${path}${params.length ? `?${params.join("&")}` : ""}`;
    const headers: Record<string, string> = {};
    if (this.config.token) headers["X-Consul-Token"] = this.config.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const { fetch, requestTimeoutMs } = this.config;
    const context = { ownClient: !fetch, change, sent: false };
    let answer: Answer;
    try {
      if (fetch) {
        const signal = AbortSignal.timeout(requestTimeoutMs);
        const response = await fetch(url, { method, headers, body, signal });
        answer = { status: response.status, body: await response.text() };
      } else {
        answer = await this.viaNode(url, { method, headers, body }, () => {
          context.sent = true;
        });
      }
    } catch (cause) {
      throw new TransportFailure(this.config.baseUrl, cause, context);
    }
    if (answer.status !== 200 && !also.includes(answer.status))
      throw new StatusFailure(answer.status, answer.body, change);
    return answer;
  }

  private viaNode(url: string, init: Init, onSent: () => void): Promise<Answer> {
    const transport = this.config.scheme === "https" ? https : http;
    const { method, headers, body } = init;
    if (body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent: this.agent }, (res) => {
        // Chunks joined once at the end: node:stream/consumers' text() iterates asynchronously,
        // a promise per chunk, which cost about 15 µs of CPU per request (issue 26: bench/NOTES.md).
        const parts: Buffer[] = [];
        res.on("data", (part: Buffer) => parts.push(part));
        res.on("error", reject);
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") }),
        );
      });
      req.setTimeout(this.config.requestTimeoutMs, () => {
        req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" }));
      });
      req.on("error", reject);
      // The whole request is handed to the socket: from here a failure may follow its arrival.
      req.on("finish", onSent);
      req.end(body);
    });
  }
}
