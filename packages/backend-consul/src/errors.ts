/** What Consul's HTTP failures mean: core's typed errors, and which of them are safe to retry. */
import { defineErrorMapping } from "@resultstore/core";
import { BACKEND_NAME } from "./config.js";

/** The request did not complete: the agent is unreachable, refused the connection or timed out. */
export class TransportFailure extends Error {
  constructor(baseUrl: string, cause: unknown) {
    const code = (cause as { code?: string }).code ?? (cause as Error).name;
    super(`cannot reach Consul at ${baseUrl}: ${code}`, { cause });
  }
}

/** Consul answered with an HTTP error status. */
export class StatusFailure extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(body.trim().slice(0, 300) || "(no body)");
  }
}

export const errors = defineErrorMapping({
  backend: BACKEND_NAME,
  isTransport: (error) => error instanceof TransportFailure,
  statusOf: (error) => (error instanceof StatusFailure ? error.status : undefined),
  statusLabel: "HTTP",
  // Throttling, and the 5xx Consul returns while it has no leader.
  transientStatuses: [429, 500, 502, 503, 504],
});
