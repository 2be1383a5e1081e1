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
  /** ACL token, sent as `X-Consul-Token`, never shown in a message; Celery: none. @default none */
  token?: string;
  /** Datacenter to address (`?dc=`); Celery: none. @default the agent's own */
  datacenter?: string;
  /** Consistency of reads (Celery: `consistent`); writes are check-and-set. @default "consistent" */
  consistency?: ConsulConsistency;
  /** Key prefix; Celery: the URL path. `/`-separated (README's rules). @default "" (KV root) */
  prefix?: string;
  /**
   * More segments after `prefix`: namespaces never see each other's keys; `destroy()` deletes one.
   * Celery: the URL path `<prefix>/<namespace>`. @default none */
  namespace?: string;
  /** A `fetch` the caller built; `tls` is then ignored. @default node:http(s) with keep-alive */
  fetch?: FetchLike;
  /** Milliseconds before one HTTP request is abandoned. @default 10000 */
  requestTimeoutMs?: number;
  /** Check-and-set attempts per write or increment before giving up under contention. @default 200 */
  maxCasAttempts?: number;
  /**
   * Expire keys through Consul sessions. Off when Celery workers write keys we created (README:
   * "Mixed writers"); expiry then rests on `expires_at` and `cleanup()`. @default true */
  sessionExpiry?: boolean;
  /**
   * The node of our expiry sessions: they die with it, and delete what they hold (README: "A
   * session dies with its node"); a server's outlives a client agent's. @default the agent's */
  sessionNode?: string;
  /** Where warnings go, each kind once per store. @default process.emitWarning, once per message */
  warn?: (message: string) => void;
}
