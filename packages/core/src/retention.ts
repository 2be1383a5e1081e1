/**
 * `expires`: how long a record stays visible after its last write, one number for every record
 * or a map by state (keep failures longer than successes). Resolved and validated once, when the
 * store is built, into the one question core asks per write: when does a record written in this
 * state expire?
 */
import { ConfigurationError } from "./errors.js";
import type { TaskState } from "./states.js";

/**
 * Seconds by state, e.g. `{ SUCCESS: 86400, FAILURE: 2592000, default: 604800 }`. A state not
 * listed uses `default` (86400 when absent); groups and counters use `default` too. `null` or 0
 * for an entry keeps those records forever.
 */
export type RetentionByState = { default?: number | null } & {
  [state: string]: number | null | undefined;
};

/** The `expires` option: seconds for every record, a map by state, or null (keep forever). */
export type ExpiresOption = number | null | RetentionByState;

/** Celery's `result_expires`: one day. */
export const DEFAULT_EXPIRES_SECONDS = 86_400;

/** The same rule `storeResult` applies to a state it writes. */
const STATE_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

/** `expires` resolved: the lifetime in milliseconds (null = forever) of each write. */
export interface Retention {
  /** Lifetime of a task record written in `state`. */
  forState(state: TaskState): number | null;
  /** Lifetime of groups, counters and states the map does not name. */
  readonly defaultMs: number | null;
}

/** Seconds (or null/0 = forever) → milliseconds, or a ConfigurationError naming `what`. */
function lifetimeMs(value: unknown, what: string, backendName: string): number | null {
  if (value === null || value === 0) return null;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(
      backendName,
      `Option \`${what}\` must be seconds >= 0 or null, got ${String(value)}.`,
    );
  }
  return value * 1000;
}

/** Validates `expires` (undefined = one day) into per-state lifetimes. */
export function resolveRetention(expires: unknown, backendName: string): Retention {
  if (expires === undefined) expires = DEFAULT_EXPIRES_SECONDS;
  if (typeof expires !== "object" || expires === null) {
    const ms = lifetimeMs(expires, "expires", backendName);
    return { forState: () => ms, defaultMs: ms };
  }
  if (Array.isArray(expires) || Object.getPrototypeOf(expires) !== Object.prototype) {
    throw new ConfigurationError(
      backendName,
      "Option `expires` must be seconds, null, or a plain object of seconds by state " +
        "(e.g. { SUCCESS: 86400, FAILURE: 2592000, default: 604800 }).",
    );
  }
  const byState = new Map<TaskState, number | null>();
  let defaultMs: number | null = DEFAULT_EXPIRES_SECONDS * 1000;
  for (const [key, value] of Object.entries(expires)) {
    if (key === "default") {
      // An explicit `default: undefined` is the same as leaving it out.
      if (value !== undefined) defaultMs = lifetimeMs(value, "expires.default", backendName);
      continue;
    }
    if (!STATE_NAME.test(key)) {
      throw new ConfigurationError(
        backendName,
        `Option \`expires\` has key ${JSON.stringify(key)}: keys are upper-case state names ` +
          '(SUCCESS, FAILURE, a custom "PROGRESS"…) or "default".',
      );
    }
    if (value !== undefined) byState.set(key, lifetimeMs(value, `expires.${key}`, backendName));
  }
  return {
    forState: (state) => (byState.has(state) ? (byState.get(state) ?? null) : defaultMs),
    defaultMs,
  };
}

/** When a record written now with lifetime `ms` expires (null = never). */
export function expiryFrom(now: number, ms: number | null): Date | null {
  return ms === null ? null : new Date(now + ms);
}
