/** Options of the Consul backend. Celery configures Consul by URL only; each option names the URL part it matches. */

/** Consul's read consistency modes (`?consistent`, `?stale`, or neither). */
export type ConsulConsistency = "default" | "consistent" | "stale";

/** What a caller-provided `fetch` must look like: the global `fetch`, undici's, or a wrapper. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{
  /** The HTTP status code. */
  status: number;
  /** The response body as text. */
  text(): Promise<string>;
}>;

/** TLS settings for `scheme: "https"` (Consul's `verify_incoming` needs `cert` and `key`). */
export interface ConsulTlsOptions {
  /** PEM CA certificate(s) that signed the agent's certificate. @default Node's bundled roots */
  ca?: string | Buffer | (string | Buffer)[];
  /** PEM client certificate, for agents that verify incoming connections. */
  cert?: string | Buffer;
  /** PEM client key matching `cert`. */
  key?: string | Buffer;
  /** Name to verify the agent's certificate against. @default the host */
  servername?: string;
}

/** Options of {@link ConsulBackend}, each with the Celery setting it corresponds to. */
export interface ConsulBackendOptions {
  /** Agent host; Celery: the URL host. @default "127.0.0.1" */
  host?: string;
  /** Agent HTTP(S) port; Celery: the URL port. @default 8500 */
  port?: number;
  /** `https` talks TLS (URL form `consul+https://`; Celery's backend has no TLS). @default "http" */
  scheme?: "http" | "https";
  /** TLS settings used when `scheme` is "https". */
  tls?: ConsulTlsOptions;
  /**
   * ACL token, sent as `X-Consul-Token`, never shown in a message. Celery has no setting for it
   * (python-consul reads `CONSUL_HTTP_TOKEN`). @default none
   */
  token?: string;
  /** Datacenter to address (`?dc=`); Celery: none. @default the agent's own */
  datacenter?: string;
  /** Consistency of reads (Celery: `consistent`); writes are check-and-set. @default "consistent" */
  consistency?: ConsulConsistency;
  /**
   * Key prefix; Celery: the URL path (`consul://h:8500/celery` → `celery/celery-task-meta-<id>`).
   * Slash-separated segments, none empty, `.` or `..`, no leading `/`. @default "" (KV root)
   */
  prefix?: string;
  /**
   * Isolation unit: appended to `prefix` as more path segments, so stores with different
   * namespaces never see each other's keys and `destroy()` deletes one namespace. Celery sees the
   * same records with the URL path `<prefix>/<namespace>`. @default none
   */
  namespace?: string;
  /**
   * A `fetch` the caller built (e.g. an undici dispatcher for custom TLS or proxies); `tls` is then
   * ignored and we close nothing. @default node:http(s) with keep-alive
   */
  fetch?: FetchLike;
  /** Milliseconds before one HTTP request is abandoned. @default 10000 */
  requestTimeoutMs?: number;
  /** Check-and-set attempts per write or increment before giving up under contention. @default 200 */
  maxCasAttempts?: number;
  /**
   * Expire keys through Consul sessions (TTL, `behavior=delete`). Turn it off when Celery workers
   * write to keys this store created: Consul refuses their `?acquire=` on a key our session holds,
   * and Celery ignores that (README); expiry then rests on `expires_at` and `cleanup()`.
   * @default true
   */
  sessionExpiry?: boolean;
  /**
   * The node the expiry sessions belong to. A session dies with its node: when the node is
   * deregistered, Consul deletes every key the session holds, live or not (README: "A session
   * dies with its node"). Name a node that outlives the agent's (a server's). @default the agent's
   */
  sessionNode?: string;
  /**
   * Where warnings go (TTL clamping, expiries Consul can't express), each kind once per store.
   * @default process.emitWarning, each distinct message once per process
   */
  warn?: (message: string) => void;
}
