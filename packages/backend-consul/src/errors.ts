/** What Consul's HTTP failures mean: core's typed errors, and which of them are safe to retry. */
import { defineErrorMapping, isConnectionRefused } from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";

/**
 * `ownClient`: our node:http client, which sends once, so a refused connection proves nothing was
 * sent (README: "Errors"). `change`: a write or delete. `sent`: the request reached the socket.
 */
type TransportContext = { ownClient?: boolean; change?: boolean; sent?: boolean };

/** The request did not complete: the agent is unreachable, refused the connection or timed out. */
export class TransportFailure extends Error {
  constructor(
    baseUrl: string,
    cause: unknown,
    readonly context: TransportContext = {},
  ) {
    const code = (cause as { code?: string }).code ?? (cause as Error).name;
    super(`cannot reach Consul at ${baseUrl}: ${code}`, { cause });
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
 * Statuses a change may have been applied behind: Consul's 500 for an RPC that failed after it was
 * forwarded, a proxy's 502/504 (README: "Errors"). 429/503 are the rate limiter: nothing applied.
 */
const MAYBE_APPLIED = new Set([500, 502, 504]);

/** Consul's "No cluster leader": no leader to forward to, so Raft never saw the change. */
const NO_LEADER = /no cluster leader/i;

/** A change answered with a server error, or unanswered after our own client sent it whole. */
function isOutcomeUnknown(error: unknown): boolean {
  if (error instanceof TransportFailure) {
    const { ownClient, change, sent } = error.context;
    return !!(ownClient && change && sent);
  }
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
    error instanceof TransportFailure && !!error.context.ownClient && isConnectionRefused(error),
  isOutcomeUnknown,
  statusOf: (error) => (error instanceof StatusFailure ? error.status : undefined),
  statusLabel: "HTTP",
  // Throttling, and a leaderless Consul's 5xx (for changes never forwarded: isOutcomeUnknown).
  transientStatuses: [429, 500, 502, 503, 504],
});
