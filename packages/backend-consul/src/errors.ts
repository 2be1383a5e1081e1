/** What Consul's HTTP failures mean: core's typed errors, and which of them are safe to retry. */
import { defineErrorMapping, isConnectionRefused } from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";

/** How a failed request went, as far as the client can tell. */
export interface TransportContext {
  /**
   * The request went through our own node:http client, which sends each request once (no re-send
   * after a lost answer), so a refused connection proves nothing was sent. A caller's `fetch` may
   * retry on its own: its failures prove nothing either way.
   */
  ownClient?: boolean;
  /** The request asked for a change (a write transaction, a delete). */
  change?: boolean;
  /** Our own client had handed the whole request to the socket before it failed. */
  sent?: boolean;
}

/** The request did not complete: the agent is unreachable, refused the connection or timed out. */
export class TransportFailure extends Error {
  readonly ownClient: boolean;
  readonly change: boolean;
  readonly sent: boolean;
  constructor(baseUrl: string, cause: unknown, context: TransportContext = {}) {
    const code = (cause as { code?: string }).code ?? (cause as Error).name;
    super(`cannot reach Consul at ${baseUrl}: ${code}`, { cause });
    this.ownClient = context.ownClient ?? false;
    this.change = context.change ?? false;
    this.sent = context.sent ?? false;
  }
}

/** Consul answered with an HTTP error status; `write`: to a change, which a 5xx may have applied. */
export class StatusFailure extends Error {
  constructor(
    readonly status: number,
    body: string,
    readonly write = false,
  ) {
    super(body.trim().slice(0, 300) || "(no body)");
  }
}

/**
 * Statuses a change may have been applied behind: Consul answers 500 for an RPC that failed after
 * it was forwarded (a Raft apply that timed out or lost leadership while committing), and a proxy
 * in front answers 502/504 after it may have passed the request on. 429/503 are Consul's rate
 * limiter, which refuses before applying anything.
 */
const MAYBE_APPLIED = new Set([500, 502, 504]);

/** Consul's "No cluster leader": no leader to forward to, so Raft never saw the change. */
const NO_LEADER = /no cluster leader/i;

/**
 * A change that reached Consul and may have been applied: answered with a server error, or whose
 * answer never came (timeout, reset) after our own client had sent the whole request.
 */
function isOutcomeUnknown(error: unknown): boolean {
  if (error instanceof TransportFailure) return error.ownClient && error.change && error.sent;
  return (
    error instanceof StatusFailure &&
    error.write &&
    MAYBE_APPLIED.has(error.status) &&
    !NO_LEADER.test(error.message)
  );
}

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
  isTransport: (error) => error instanceof TransportFailure,
  isUnsent: (error) =>
    error instanceof TransportFailure && error.ownClient && isConnectionRefused(error),
  isOutcomeUnknown,
  statusOf: (error) => (error instanceof StatusFailure ? error.status : undefined),
  statusLabel: "HTTP",
  // Throttling, and the 5xx Consul returns while it has no leader (for reads, and for changes
  // that were never forwarded: see isOutcomeUnknown).
  transientStatuses: [429, 500, 502, 503, 504],
});
