/**
 * Task states with Celery's names and sets (celery/states.py), and the state rules every backend
 * enforces atomically on its server.
 */

/** Unknown to the backend: no record, or not written yet (Celery's `PENDING`). */
export const PENDING = "PENDING";
/** A worker received the task (Celery's `RECEIVED`). */
export const RECEIVED = "RECEIVED";
/** A worker started the task (Celery's `STARTED`, with `{ pid, hostname }`). */
export const STARTED = "STARTED";
/** Finished with a result; final: no later write replaces it. */
export const SUCCESS = "SUCCESS";
/** Finished with an exception (Celery's `{ exc_type, exc_message, exc_module }`). */
export const FAILURE = "FAILURE";
/** Cancelled (Celery's `REVOKED`); ready. */
export const REVOKED = "REVOKED";
/** Rejected by the worker (Celery's `REJECTED`); unready. */
export const REJECTED = "REJECTED";
/** Failed and will be retried (Celery's `RETRY`); unready. */
export const RETRY = "RETRY";
/** The task asked Celery to ignore its result (Celery's `IGNORED`). */
export const IGNORED = "IGNORED";
/** Ours: the record a producer writes before publishing the task. Unready. */
export const QUEUED = "QUEUED";

/** A task state: one of Celery's names, QUEUED, or any custom string (e.g. "PROGRESS"). */
export type TaskState = string;

/** States that end a task: SUCCESS, FAILURE, REVOKED (Celery's `READY_STATES`). */
export const READY_STATES: ReadonlySet<TaskState> = new Set([SUCCESS, FAILURE, REVOKED]);
/** Celery's `UNREADY_STATES`: PENDING, RECEIVED, STARTED, REJECTED, RETRY. */
export const UNREADY_STATES: ReadonlySet<TaskState> = new Set([
  PENDING,
  RECEIVED,
  STARTED,
  REJECTED,
  RETRY,
]);
/** States whose result is an exception: RETRY, FAILURE, REVOKED. */
export const EXCEPTION_STATES: ReadonlySet<TaskState> = new Set([RETRY, FAILURE, REVOKED]);
/** States whose exception a waiting caller re-raises: FAILURE, REVOKED. */
export const PROPAGATE_STATES: ReadonlySet<TaskState> = new Set([FAILURE, REVOKED]);
/** Celery's seven built-in states (`ALL_STATES`). */
export const ALL_STATES: ReadonlySet<TaskState> = new Set([
  PENDING,
  RECEIVED,
  STARTED,
  SUCCESS,
  FAILURE,
  RETRY,
  REVOKED,
]);

/**
 * Every state Celery and resultstore name, in a task's lifecycle order: `countByState` lists each
 * of them (0 when none), before any custom state.
 */
export const KNOWN_STATES: readonly TaskState[] = [
  QUEUED,
  PENDING,
  RECEIVED,
  STARTED,
  RETRY,
  SUCCESS,
  FAILURE,
  REVOKED,
  REJECTED,
  IGNORED,
];

/** Celery's precedence list, highest first; `null` stands for any unknown (custom) state. */
const PRECEDENCE: readonly (TaskState | null)[] = [
  SUCCESS,
  FAILURE,
  null,
  REVOKED,
  STARTED,
  RECEIVED,
  REJECTED,
  RETRY,
  PENDING,
];

/** Celery's `precedence(state)`: lower is stronger; unknown states share the custom slot. */
export function precedence(state: TaskState): number {
  const index = PRECEDENCE.indexOf(state);
  return index === -1 ? PRECEDENCE.indexOf(null) : index;
}

/** Whether `state` ends the task (one of {@link READY_STATES}). */
export function isReady(state: TaskState): boolean {
  return READY_STATES.has(state);
}

/** Whether `state`'s result is an exception (one of {@link EXCEPTION_STATES}). */
export function isException(state: TaskState): boolean {
  return EXCEPTION_STATES.has(state);
}

const FINAL_ONLY: readonly TaskState[] = [SUCCESS];
const ALL_READY: readonly TaskState[] = [SUCCESS, FAILURE, REVOKED];

/**
 * The state rules in the form backends put into a server-side condition: the stored states that
 * refuse a write of `incoming`. A stored SUCCESS is final; a stored ready state is never replaced
 * by an unready one. Anything else (no record, or a stored state not listed) accepts the write.
 */
export function statesRefusing(incoming: TaskState): readonly TaskState[] {
  return isReady(incoming) ? FINAL_ONLY : ALL_READY;
}

/** The state rules as a predicate: may a record stored in `stored` be overwritten by `incoming`? */
export function canTransition(stored: TaskState | null | undefined, incoming: TaskState): boolean {
  if (stored === null || stored === undefined) return true;
  return !statesRefusing(incoming).includes(stored);
}
