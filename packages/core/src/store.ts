/** `ResultStore`: the API services call. It validates, encodes and applies the rules' inputs once,
 * then hands each backend a ready `TaskWrite`. */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeJson } from "./codec.js";
import { encodeCursor } from "./cursor.js";
import {
  BackendConnectionError,
  BackendUnavailableError,
  ConfigurationError,
  ContentionError,
  IncrementOutcomeUnknownError,
  InvalidIdError,
  OutcomeUnknownError,
  StoreClosedError,
  UnsupportedOperationError,
  ValueTooLargeError,
  WaitAbortedError,
  WaitTimeoutError,
  WriteOutcomeUnknownError,
} from "./errors.js";
import { positionOf } from "./find.js";
import {
  CHORD_CLAIM_KEY_PREFIX,
  CHORD_MEMBERS_KEY_PREFIX,
  derivedKey,
  GROUP_KEY_PREFIX,
  TASK_KEY_PREFIX,
} from "./keys.js";
import type { TelemetryOptions } from "./otel-api.js";
import { type FindOptions, resolveCountFilter, resolveFind, type TaskFilter } from "./query.js";
import {
  exceptionToDict,
  isExpired,
  measureWrite,
  pendingRecord,
  REQUEST_FIELDS,
} from "./record.js";
import { type ExpiresOption, expiryFrom, type Retention, resolveRetention } from "./retention.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, withRetry } from "./retry.js";
import {
  FAILURE,
  isException,
  isReady,
  KNOWN_STATES,
  QUEUED,
  RETRY,
  REVOKED,
  STARTED,
  SUCCESS,
  type TaskState,
} from "./states.js";
import { instrumentStore } from "./telemetry.js";
import type { FindQuery, GroupRecord, ResultBackend, TaskRecord, TaskWrite } from "./types.js";
import { isStateName, validateId, validateMetadata } from "./validate.js";
import { copyValue } from "./versions.js";

/** How a {@link ResultStore} writes: expiry and retries. */
export interface ResultStoreOptions {
  /**
   * Seconds a record stays visible after its last write; null or 0 keeps it forever. Or a map by
   * the written state, e.g. `{ SUCCESS: 86400, FAILURE: 2592000, default: 604800 }`: other
   * states, groups and counters use `default` (86400 when absent).
   * @default 86400 (Celery's result_expires)
   */
  expires?: ExpiresOption;
  /** Retry transient backend failures (Celery's result_backend_always_retry). @default false */
  alwaysRetry?: boolean;
  /** Backoff for `alwaysRetry`. @default { maxRetries: 3, baseMs: 10, maxMs: 10000 } */
  retryPolicy?: Partial<RetryPolicy>;
  /**
   * OpenTelemetry spans and metrics for each call (see otel-api.ts and telemetry.ts): on whenever
   * `@opentelemetry/api` is installed, no-op until a provider is registered; `false` turns it off.
   */
  telemetry?: TelemetryOptions | false;
}

/** What the worker knew about the task (Celery's request), stored as the extended fields. */
export interface TaskRequestInfo {
  name?: string | null;
  args?: unknown[] | null;
  kwargs?: Record<string, unknown> | null;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  groupId?: string | null;
  parentId?: string | null;
}

/** What a write may carry besides state and result. */
export interface StoreResultOptions {
  traceback?: string | null;
  request?: TaskRequestInfo;
  /** Merged key by key into the stored metadata. */
  metadata?: Record<string, unknown>;
  children?: unknown[] | null;
}

/** What `getMeta` returns; optional fields appear when stored. Unknown ids read as PENDING. */
export interface TaskMeta {
  taskId: string;
  status: TaskState;
  result: unknown;
  traceback: string | null;
  children: unknown[] | null;
  dateDone: Date | null;
  /**
   * When the record was last written (every write through resultstore stamps it); null on a
   * record Celery's own backends wrote, on unknown ids, and on backends that do not keep it yet.
   */
  updatedAt: Date | null;
  metadata: Record<string, unknown>;
  groupId?: string;
  parentId?: string;
  name?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  worker?: string;
  retries?: number;
  queue?: string;
}

/** One page of {@link ResultStore.find}. */
export interface TaskPage {
  /** At most the page's limit, in the order asked for. */
  tasks: TaskMeta[];
  /** Pass it as `cursor` (with the same filter and order) for the next page; null: no more. */
  cursor: string | null;
}

/** What a write did. */
export interface StoreOutcome {
  taskId: string;
  status: TaskState;
  /** False when the state rules refused the write; nothing changed then. */
  applied: boolean;
}

/** How {@link ResultStore.waitFor} polls. */
export interface WaitOptions {
  /** Milliseconds before rejecting with WaitTimeoutError. @default no limit */
  timeout?: number;
  /** Milliseconds between polls. @default 500 (Celery's interval) */
  interval?: number;
  signal?: AbortSignal;
}

/** One chord member's completion, for {@link ResultStore.onChordPartReturn}. */
export interface ChordPart {
  groupId: string;
  /** The member that finished; a second delivery of the same member is not counted. */
  taskId: string;
  /** Members in the chord header. */
  size: number;
}

/** Where a chord stands after one member's completion. */
export interface ChordProgress {
  /** Distinct members counted so far, as this call saw them (a redelivery counts nothing new). */
  count: number;
  /** This call ran the callback: true for exactly one delivery of the chord. */
  complete: boolean;
  /** Every member was counted and another delivery had claimed the callback: nothing to do. */
  duplicate: boolean;
}

/** How a call may be retried under `alwaysRetry`. */
type CallKind =
  /** Reads change nothing: any failure of theirs is definite. */
  | "read"
  /** Reads, deletes, group saves and set adds: doing it twice is doing it once. */
  | "idempotent"
  /** A task write: a copy that lands twice is recognised by its write id, or refused by the rules. */
  | "write"
  /** An increment: a second copy counts again, so it is retried only when nothing was sent. */
  | "incr";

/** Attempts to settle a chord's claim when calls fail (each one reads back what is stored). */
const CLAIM_ATTEMPTS = 6;

/** The API: task states, results, metadata, groups and counters over one backend, with the state rules, validation, expiry and retries applied. */
export class ResultStore {
  readonly backend: ResultBackend;
  private readonly retention: Retention;
  private readonly retryPolicy: RetryPolicy | null;
  private closed = false;

  constructor(backend: ResultBackend, options: ResultStoreOptions = {}) {
    this.retention = resolveRetention(options.expires, backend.name);
    this.backend = backend;
    this.retryPolicy = options.alwaysRetry
      ? { ...DEFAULT_RETRY_POLICY, ...options.retryPolicy }
      : null;
    instrumentStore(this, options.telemetry);
  }

  /** The record a producer writes before publishing the task; its metadata survives every later write. */
  markQueued(
    taskId: string,
    info: {
      metadata?: Record<string, unknown>;
      name?: string;
      args?: unknown[];
      kwargs?: Record<string, unknown>;
      queue?: string;
    } = {},
  ): Promise<StoreOutcome> {
    const { metadata, ...request } = info;
    return this.storeResult(taskId, null, QUEUED, { metadata, request });
  }

  /** STARTED, with Celery's `{pid, hostname}` result unless `info` is given. */
  markStarted(
    taskId: string,
    info?: unknown,
    options: StoreResultOptions = {},
  ): Promise<StoreOutcome> {
    return this.storeResult(
      taskId,
      info ?? { pid: process.pid, hostname: hostname() },
      STARTED,
      options,
    );
  }

  /** SUCCESS with `result`: final, no later write replaces it. */
  markSuccess(
    taskId: string,
    result: unknown,
    options: StoreResultOptions = {},
  ): Promise<StoreOutcome> {
    return this.storeResult(taskId, result, SUCCESS, options);
  }

  /** FAILURE with Celery's exception dict; the traceback defaults to the error's stack. */
  markFailure(
    taskId: string,
    error: unknown,
    options: StoreResultOptions = {},
  ): Promise<StoreOutcome> {
    const traceback = options.traceback ?? (error instanceof Error ? (error.stack ?? null) : null);
    return this.storeResult(taskId, error, FAILURE, { ...options, traceback });
  }

  /** RETRY with Celery's exception dict for `error`. */
  markRetry(
    taskId: string,
    error: unknown,
    options: StoreResultOptions = {},
  ): Promise<StoreOutcome> {
    return this.storeResult(taskId, error, RETRY, options);
  }

  /** REVOKED with Celery's TaskRevokedError (`reason`: "revoked", "expired" or "terminated"). */
  markRevoked(
    taskId: string,
    reason = "revoked",
    options: StoreResultOptions = {},
  ): Promise<StoreOutcome> {
    const error = {
      exc_type: "TaskRevokedError",
      exc_message: [reason],
      exc_module: "celery.exceptions",
    };
    return this.storeResult(taskId, error, REVOKED, options);
  }

  /**
   * The general write. Refused writes (the state rules) resolve with `applied: false`; a refusal
   * of a copy re-sent after a transport failure rejects with `WriteOutcomeUnknownError` instead,
   * since an earlier copy may have landed.
   */
  async storeResult(
    taskId: string,
    result: unknown,
    state: TaskState,
    options: StoreResultOptions = {},
  ): Promise<StoreOutcome> {
    this.assertOpen();
    const write = this.buildWrite(taskId, result, state, options);
    const size = measureWrite(write);
    if (size > this.backend.capabilities.maxRecordBytes) {
      throw new ValueTooLargeError(
        this.backend.name,
        size,
        this.backend.capabilities.maxRecordBytes,
      );
    }
    // Whether an attempt failed in a way that may have stored it. A ContentionError stored
    // nothing (every compare-and-swap round was lost), so a refusal after it is still a refusal.
    // BackendUnavailableError sent nothing either.
    let mayHaveLanded = false;
    const outcome = await this.call(
      () =>
        this.backend.write(write).catch((error: unknown) => {
          if (!(error instanceof ContentionError || error instanceof BackendUnavailableError))
            mayHaveLanded = true;
          throw error;
        }),
      "write",
    ).catch((error: unknown) => {
      throw narrowOutcomeUnknown(
        error,
        (why, cause) => new WriteOutcomeUnknownError(this.backend.name, taskId, why, { cause }),
      );
    });
    // A refusal of a copy sent again after a transport failure is not a refusal of the write: an
    // earlier copy may have landed, then been superseded by another process's write (which also
    // replaced the write id a backend would have recognised). Say so rather than guess.
    if (!outcome.applied && (mayHaveLanded || outcome.resent)) {
      throw new WriteOutcomeUnknownError(this.backend.name, taskId);
    }
    return { taskId, status: state, applied: outcome.applied };
  }

  private buildWrite(
    taskId: string,
    result: unknown,
    state: TaskState,
    options: StoreResultOptions,
  ): TaskWrite {
    validateId(taskId);
    if (!isStateName(state)) {
      throw new ConfigurationError(
        "core",
        `State ${JSON.stringify(state)} is not an upper-case state name.`,
      );
    }
    if (options.metadata !== undefined) validateMetadata(options.metadata);
    // As Celery's encode_result: only an exception instance becomes the exception dict.
    const value = isException(state) && result instanceof Error ? exceptionToDict(result) : result;
    const now = Date.now();
    // Everything the caller passed is copied now: a caller that stops waiting (a timeout, a
    // race) and reuses its objects must not change what a retry or a slow attempt writes.
    const resultJson = encodeJson(value ?? null); // EncodeError here, before anything is written
    const write: TaskWrite = {
      taskId,
      status: state,
      result: copyValue(value ?? null),
      resultJson,
      traceback: options.traceback ?? null,
      dateDone: isReady(state) ? new Date(now) : null,
      updatedAt: new Date(now),
      // The written state's lifetime: a refused write changes nothing, its expiry included.
      expiresAt: expiryFrom(now, this.retention.forState(state)),
      writeId: randomUUID(),
    };
    const request = options.request ?? {};
    for (const key of REQUEST_FIELDS) {
      if (request[key] !== undefined)
        (write as unknown as Record<string, unknown>)[key] = copyValue(request[key]);
    }
    if (request.groupId) validateId(request.groupId, "group id");
    if (request.parentId) validateId(request.parentId, "parent id");
    if (options.children !== undefined) write.children = copyValue(options.children);
    if (options.metadata !== undefined) write.metadata = copyValue(options.metadata);
    return write;
  }

  /** The task's meta; unknown or expired ids read as PENDING with a null result, as in Celery. */
  async getMeta(taskId: string): Promise<TaskMeta> {
    this.assertOpen();
    validateId(taskId);
    return toMeta(taskId, await this.call(() => this.backend.read(taskId), "read"));
  }

  /** Each task's meta, in the order of `taskIds` (PENDING for unknown ones). */
  async getMany(taskIds: readonly string[]): Promise<TaskMeta[]> {
    this.assertOpen();
    for (const id of taskIds) validateId(id);
    const backend = this.backend;
    const records = backend.readMany
      ? await this.call(
          () => (backend.readMany as NonNullable<typeof backend.readMany>)(taskIds),
          "read",
        )
      : await Promise.all(taskIds.map((id) => this.call(() => backend.read(id), "read")));
    return taskIds.map((id, i) => toMeta(id, records[i] ?? null));
  }

  /** Resolves with the meta once the task is ready; rejects on timeout or abort. */
  async waitFor(taskId: string, options: WaitOptions = {}): Promise<TaskMeta> {
    const { timeout, interval = 500, signal } = options;
    const deadline = timeout === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeout;
    for (;;) {
      if (signal?.aborted)
        throw new WaitAbortedError(this.backend.name, taskId, { cause: signal.reason });
      const meta = await this.getMeta(taskId);
      if (isReady(meta.status)) return meta;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new WaitTimeoutError(this.backend.name, taskId, timeout as number);
      await sleep(Math.min(interval, remaining), undefined, { signal }).catch(() => {
        throw new WaitAbortedError(this.backend.name, taskId, { cause: signal?.reason });
      });
    }
  }

  /** Deletes the task's record (Celery's `forget`). */
  async forget(taskId: string): Promise<void> {
    this.assertOpen();
    validateId(taskId);
    await this.call(() => this.backend.remove(taskId));
  }

  /** Atomically adds `by` to counter `key` and returns the new value. Never retried: not idempotent. */
  async incr(key: string, by = 1): Promise<number> {
    this.assertOpen();
    validateCounterKey(key);
    if (!Number.isSafeInteger(by))
      throw new ConfigurationError("core", `incr needs an integer step, got ${by}.`);
    // Retried only when nothing was sent: an increment whose answer was lost may have counted.
    return this.call(() => this.backend.incr(key, by, this.expiresAt()), "incr").catch(
      (error: unknown) => {
        throw narrowOutcomeUnknown(
          error,
          (why, cause) => new IncrementOutcomeUnknownError(this.backend.name, key, why, { cause }),
        );
      },
    );
  }

  /** Saves a group's member ids (Celery's `save_group`). */
  async saveGroup(groupId: string, taskIds: readonly string[]): Promise<void> {
    this.assertOpen();
    validateId(groupId, "group id");
    for (const id of taskIds) validateId(id);
    const group: GroupRecord = {
      groupId,
      taskIds: [...taskIds],
      dateDone: new Date(),
      expiresAt: this.expiresAt(),
    };
    await this.call(() => this.backend.saveGroup(group));
  }

  /** The saved group's member ids, or null (also once it expired). */
  async restoreGroup(
    groupId: string,
  ): Promise<{ groupId: string; taskIds: string[]; dateDone: Date } | null> {
    this.assertOpen();
    validateId(groupId, "group id");
    const group = await this.call(() => this.backend.readGroup(groupId), "read");
    if (!group || isExpired(group)) return null;
    return { groupId: group.groupId, taskIds: group.taskIds, dateDone: group.dateDone };
  }

  /** Deletes a saved group (Celery's `delete_group`). */
  async deleteGroup(groupId: string): Promise<void> {
    this.assertOpen();
    validateId(groupId, "group id");
    await this.call(() => this.backend.removeGroup(groupId));
  }

  /**
   * Counts a finished chord member and runs `callback` exactly once, when the last one arrives —
   * also when members finish concurrently, one is delivered twice, or a delivery's answer was lost
   * and the member is delivered again. Members are added to the chord's set (`addToSet`), which is
   * idempotent: a redelivery counts nothing new, however its first delivery ended. A delivery that
   * sees every member counted claims the callback with a guarded write (the first SUCCESS of
   * `chord-claim-<gid>` wins, and a claim whose answer was lost is read back), so one delivery runs
   * it. The set and the claim live until they expire, so a late duplicate is still recognised.
   * The callback can fail to run only when every attempt to settle the claim fails (the claim is
   * then unknown to the delivery that made it), and a later redelivery finds it taken.
   */
  async onChordPartReturn(part: ChordPart, callback?: () => unknown): Promise<ChordProgress> {
    this.assertOpen();
    validateId(part.groupId, "group id");
    validateId(part.taskId);
    if (!Number.isSafeInteger(part.size) || part.size < 1) {
      throw new ConfigurationError(
        "core",
        `Chord size must be a positive integer, got ${part.size}.`,
      );
    }
    const members = derivedKey(CHORD_MEMBERS_KEY_PREFIX, part.groupId);
    const expiresAt = this.expiresAt();
    const count = await this.call(
      () => this.backend.addToSet(members, part.taskId, expiresAt),
      "idempotent",
    );
    if (count < part.size) return { count, complete: false, duplicate: false };
    const won = await this.claimChord(part).catch((error: unknown) => {
      // The member was counted: this call changed something, whatever its claim's failure says.
      if (!(error instanceof BackendUnavailableError)) throw error;
      throw new BackendConnectionError(
        this.backend.name,
        `Chord ${part.groupId}: member ${part.taskId} was counted, but claiming the callback failed; deliver it again.`,
        { cause: error },
      );
    });
    if (!won) return { count, complete: false, duplicate: true };
    await callback?.();
    return { count, complete: true, duplicate: false };
  }

  /**
   * Whether this delivery wins the chord's callback: its token is the first SUCCESS stored under
   * the claim id (SUCCESS is final, so later claims are refused). A claim whose answer was lost or
   * unknown is settled by reading the claim back, so the winner learns it won.
   */
  private async claimChord(part: ChordPart): Promise<boolean> {
    const claimId = derivedKey(CHORD_CLAIM_KEY_PREFIX, part.groupId);
    const token = randomUUID();
    const won = async () => {
      const meta = await this.getMeta(claimId);
      if (meta.status !== SUCCESS) return undefined; // no claim stored yet: claim again
      return (meta.result as { token?: unknown } | null)?.token === token;
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await this.storeResult(claimId, { member: part.taskId, token }, SUCCESS, {
          request: { groupId: part.groupId },
        });
        if (outcome.applied) return true;
        const settled = await won();
        if (settled !== undefined) return settled;
      } catch (error) {
        if (attempt >= CLAIM_ATTEMPTS) throw error;
        const settled = await won().catch(() => undefined);
        if (settled !== undefined) return settled;
      }
      await sleep(Math.min(1000, 20 * 2 ** attempt));
    }
  }

  /**
   * One page of the task records `filter` selects, newest first (or oldest), and a cursor for the
   * next page (null: this was the last). Expired records and core's own records (groups,
   * counters, chord bookkeeping) are never listed.
   *
   * Order: by each record's last write (`updatedAt`; `dateDone` on records Celery's own backends
   * wrote; a record with neither sorts as the oldest), ties by task id, so the order is total.
   *
   * Paging is a snapshot by time: the first page fixes `asOf`, the moment it was asked for, and
   * every page lists only records last written at or before `asOf`, each page continuing strictly
   * after the previous page's last record. While records change during paging:
   * - a record that does not change is returned exactly once;
   * - a record written after paging began (created, or changed state) has moved past `asOf`: it
   *   is not returned by the pages that follow, also when it matched before (ask for a new first
   *   page to see it), and a page already returned keeps its old state;
   * - so no record is returned twice, in either order; a record deleted or expired during paging
   *   is not returned by later pages.
   * The times are the writers' clocks: a writer whose clock runs behind the reader's can stamp a
   * write after paging began with a time before `asOf`, and that record may then be returned
   * again at its new place. Same for a write already in flight when paging began (stamped before,
   * landed after).
   *
   * The cursor is opaque text and not signed; one made for another filter or order, by another
   * version, or malformed is refused with `InvalidCursorError`. Every other bad input is an
   * `InvalidQueryError`; a backend without `find` throws `UnsupportedOperationError`.
   */
  async find(filter: TaskFilter = {}, options: FindOptions = {}): Promise<TaskPage> {
    this.assertOpen();
    const request = resolveFind(filter, options);
    const find = this.backend.find?.bind(this.backend);
    if (!find) throw new UnsupportedOperationError(this.backend.name, "find");
    const asOf = request.resume?.asOf ?? (await snapshotTime());
    const query: FindQuery = {
      ...request.criteria,
      ...(request.states && { states: request.states }),
      asOf,
      order: request.order,
      ...(request.resume && { startAfter: request.resume.startAfter }),
      // One more than the page: whether it comes back says whether another page follows.
      limit: request.limit + 1,
      now: new Date(),
    };
    const records = await this.call(() => find(query), "read");
    const page = records.slice(0, request.limit);
    const last = page[page.length - 1];
    const cursor =
      records.length > request.limit && last
        ? encodeCursor({
            order: request.order,
            asOf,
            last: positionOf(last),
            filter: request.digest,
          })
        : null;
    return { tasks: page.map((record) => toMeta(record.taskId, record)), cursor };
  }

  /**
   * How many task records `filter` selects, in each state: every state Celery and resultstore
   * name (`KNOWN_STATES`) with 0 where there is none, then any custom state found. Expired
   * records and core's own records are not counted.
   */
  async countByState(filter: Omit<TaskFilter, "state"> = {}): Promise<Record<TaskState, number>> {
    this.assertOpen();
    const criteria = resolveCountFilter(filter);
    const count = this.backend.countByState?.bind(this.backend);
    if (!count) throw new UnsupportedOperationError(this.backend.name, "countByState");
    const counts = await this.call(() => count({ ...criteria, now: new Date() }), "read");
    const all: Record<TaskState, number> = {};
    for (const state of KNOWN_STATES) all[state] = counts[state] ?? 0;
    for (const state of Object.keys(counts).sort()) all[state] ??= counts[state] ?? 0;
    return all;
  }

  /** Deletes expired records, groups and counters; how many it removed. */
  async cleanup(): Promise<number> {
    this.assertOpen();
    return this.call(() => this.backend.cleanup(new Date()));
  }

  /** Closes the backend. Idempotent; every later call rejects with StoreClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.backend.close();
  }

  /** True once {@link ResultStore.close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Groups' and counters' expiry: the `default` lifetime. */
  private expiresAt(): Date | null {
    return expiryFrom(Date.now(), this.retention.defaultMs);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError(this.backend.name);
  }

  /**
   * Runs one backend call, retried under `alwaysRetry` when `retry` allows. A failure reaches the
   * caller one event-loop turn later: a driver with every host marked down fails without any I/O,
   * and a caller that tries again at once would then spin on microtasks and starve the event loop,
   * the driver's own reconnection timers included (packages/proof saw Cassandra clients never
   * come back after a server restart). Success pays nothing.
   */
  private async call<T>(operation: () => Promise<T>, kind: CallKind = "idempotent"): Promise<T> {
    // Whether an attempt failed in a way that may have taken effect (anything but "nothing was
    // sent" or "every compare-and-swap round lost").
    let mayHaveLanded = false;
    const attempt = () =>
      operation().catch((error: unknown) => {
        if (!(error instanceof BackendUnavailableError || error instanceof ContentionError))
          mayHaveLanded = true;
        throw error;
      });
    try {
      if (!this.retryPolicy) return await operation();
      const backendSays = this.backend.isRetryable?.bind(this.backend) ?? (() => false);
      const isRetryable = (error: unknown): boolean => {
        if (error instanceof BackendUnavailableError) return true; // nothing was sent
        if (kind === "incr") return false; // a copy that reached the server may have counted
        // A write that may have landed recognises itself by its write id when sent again.
        if (error instanceof OutcomeUnknownError) return true;
        return backendSays(error);
      };
      return await withRetry(attempt, this.retryPolicy, isRetryable);
    } catch (error) {
      await sleep(0);
      // The last attempt sent nothing, but an earlier one may have landed: "nothing changed" would
      // be false (packages/proof saw such writes stored).
      if (error instanceof BackendUnavailableError && mayHaveLanded && kind !== "read") {
        throw new OutcomeUnknownError(
          this.backend.name,
          "an earlier attempt may have taken effect before a retry found no server to send to",
          { cause: error },
        );
      }
      throw error;
    }
  }
}

function toMeta(taskId: string, stored: TaskRecord | null): TaskMeta {
  // Unknown and expired ids read as Celery's PENDING with a null result.
  const record = !stored || isExpired(stored) ? pendingRecord(taskId) : stored;
  const meta: TaskMeta = {
    taskId,
    status: record.status,
    result: record.result,
    traceback: record.traceback,
    children: record.children,
    dateDone: record.dateDone,
    updatedAt: record.updatedAt,
    metadata: record.metadata,
  };
  for (const key of REQUEST_FIELDS) {
    if (record[key] !== null && record[key] !== undefined)
      (meta as unknown as Record<string, unknown>)[key] = record[key];
  }
  return meta;
}

/**
 * The first page's snapshot time: now, returned once the clock has moved past it, so that every
 * write stamped after the first query is sent carries a later time, and one stamped in the same
 * millisecond before it is inside the snapshot.
 */
async function snapshotTime(): Promise<Date> {
  const asOf = Date.now();
  while (Date.now() <= asOf) await sleep(1);
  return new Date(asOf);
}

/**
 * A counter key must be a valid id that cannot name a task's or group's record: key-value backends
 * keep counters beside `celery-task-meta-<id>` and `celery-taskset-meta-<id>` (as Celery does), so
 * such a key would count inside a record, or change its expiry.
 */
function validateCounterKey(key: string): void {
  validateId(key, "counter key");
  for (const prefix of [TASK_KEY_PREFIX, GROUP_KEY_PREFIX]) {
    if (key.startsWith(prefix)) {
      throw new InvalidIdError(
        `The counter key ${JSON.stringify(key)} starts with ${prefix}, which names task and group records.`,
      );
    }
  }
}

/**
 * A backend's generic `OutcomeUnknownError` narrowed to the call that failed (a write or an
 * increment), keeping the backend's words; anything else passes through.
 */
function narrowOutcomeUnknown(
  error: unknown,
  narrow: (why: string, cause: unknown) => OutcomeUnknownError,
): unknown {
  if (!(error instanceof OutcomeUnknownError)) return error;
  if (error instanceof WriteOutcomeUnknownError || error instanceof IncrementOutcomeUnknownError)
    return error;
  const why = error.message.replace(/^\[resultstore\] \[[^\]]*\] /, "").replace(/\.$/, "");
  return narrow(why, error.cause ?? error);
}
