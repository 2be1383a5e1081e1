/**
 * One client process of the workload. It opens its own store on the shared URL and, until the
 * deadline, runs its lanes at once, recording every call with its outcome:
 *
 * - lifecycles: QUEUED with metadata, STARTED, then SUCCESS, FAILURE, REVOKED or RETRY (then
 *   STARTED and a ready state again), each message sometimes delivered twice, plus late
 *   deliveries of any message to other processes' tasks; some lifecycles run on a store with a
 *   short `expires` over a few reused ids (so tasks expire and their ids are re-created), and some
 *   tasks are forgotten and then re-created under the same id;
 * - hot ids: every process merges its own metadata keys into the same few ids at once (PROGRESS),
 *   occasionally finishing them, and polls them with `getMeta` and `getMany`;
 * - counters and chords: `incr` by 1 to 5 on lasting counters from every process, bursts on
 *   counters whose short `expires` elapses between bursts (so they restart while in use), and
 *   chords whose every member is delivered by two processes through `onChordPartReturn`;
 * - cleanup (process 0): `cleanup()` every second or so, while everything above runs.
 *
 * Metadata values are numbers or nested objects. After every call the caller mutates what it
 * passed (nested values and the metadata object itself) and what `getMeta`/`getMany` returned;
 * the history records what was really sent and read, so a store that shares objects with its
 * caller shows as a read of something nobody wrote.
 *
 *   node dist/worker.js '<WorkerConfig as JSON>'
 */
import { inspect } from "node:util";
import {
  BackendUnavailableError,
  ResultStore,
  ResultStoreError,
  type TaskMeta,
} from "@resultstore/core";
import {
  type ChordEvent,
  type CleanupEvent,
  type ClientEvent,
  type ErrorInfo,
  type ForgetEvent,
  HistoryWriter,
  type IncrEvent,
  type ReadEvent,
  type WriteEvent,
} from "./history.js";
import { secretForms } from "./secrets.js";
import { type Connection, openBackend } from "./targets.js";

export interface WorkerConfig {
  connection: Connection;
  /** This process's index. */
  p: number;
  processes: number;
  /**
   * Epoch milliseconds at which the lanes stop starting calls; the runner moves it with an IPC
   * message "deadline:<ms>" (once every client is ready, and again when a restart overran).
   */
  deadline: number;
  historyFile: string;
  alwaysRetry: boolean;
  counterExpiresMs: number;
  /** `expires` of the expiring tasks' store. @default 2000 */
  taskExpiresMs?: number;
  /** Secrets from the URL, to find in error texts that were cut short. */
  secrets: string[];
  /** A call that takes longer is recorded as indeterminate (it may still land later). */
  callTimeoutMs: number;
  /**
   * How many processes deliver chord members: processes 0 to N - 1, the Node ones of a mixed
   * fleet (a Python worker has no chord lane). @default processes
   */
  chordProcesses?: number;
}

/**
 * The workload's sizes, chances and timing. A Python worker (python/worker.py) gets this object in
 * its config and runs its lanes with it, so a mixed fleet runs one workload, not two versions of it.
 */
export const WORKLOAD = {
  /** Milliseconds each set of hot ids stays current. */
  hotWindowMs: 4000,
  hotIds: 4,
  lastingCounters: 3,
  expiringCounters: 2,
  /** Each process reuses this many ids for its expiring tasks, so an expired id is re-created. */
  expiringIds: 3,
  /** `incr` steps: mostly 1, as chords and Celery use it, sometimes more. */
  steps: [1, 1, 1, 2, 3, 5],
  /** The states of late messages to other processes' tasks. */
  lateStates: ["STARTED", "SUCCESS", "FAILURE", "REVOKED", "RETRY", "PROGRESS"],
  /** The ready state a lifecycle ends with (RETRY: then STARTED and one of `afterRetry`). */
  readyStates: ["SUCCESS", "FAILURE", "REVOKED", "RETRY"],
  afterRetry: ["SUCCESS", "FAILURE"],
  /** How often each branch of a lane is taken. */
  chance: {
    /** A lifecycle runs on the expiring store, over the reused ids. */
    expiringLifecycle: 0.25,
    /** QUEUED is published twice. */
    queuedTwice: 0.2,
    /** One of a finished task's messages is delivered again. */
    duplicateDelivery: 0.3,
    /** A finished task is forgotten and read; then, half the time, run again under its id. */
    forget: 0.15,
    rerunForgotten: 0.5,
    /** A late message to another process's task. */
    lateMessage: 0.5,
    /** A hot id's write is followed by a read, of that id alone half the time, else of all. */
    hotRead: 0.5,
    hotReadOne: 0.5,
  },
  /** A hot id's write, by a uniform roll: the first state whose bound is above it. */
  hotStates: [
    [0.8, "PROGRESS"],
    [0.86, "SUCCESS"],
    [0.92, "FAILURE"],
    [1, "STARTED"],
  ],
  /** `cleanup()` every `cleanupMs` plus up to `cleanupJitterMs`. */
  cleanupMs: 800,
  cleanupJitterMs: 400,
  /**
   * Bursts on the expiring counters: the first `burstMs` of every cycle of `expires` plus
   * `burstGapMs`. The pause between bursts (cycle - burstMs) exceeds `expires` by 1.9 s, more than
   * the checker's second of slack for whole-second expiry, so each burst starts a new lifetime.
   */
  burstMs: 600,
  burstGapMs: 2500,
  /**
   * A lane whose call failed before anything was sent (the server is unreachable) waits this
   * long before its next call, as a client backs off. Without it, lanes failing at once in a busy
   * loop (thousands of calls a second while a server restarts) starved the restarting server of
   * the machine's two cores: a Cassandra restart took 134 s instead of about 20.
   */
  unreachablePauseMs: 100,
} as const;

/** Milliseconds each chord stays current (chords are delivered by the Node processes only). */
export const CHORD_WINDOW_MS = 3000;
export const DEFAULT_TASK_EXPIRES_MS = 2000;
/** Each chord has two members per delivering process; every member is delivered by two of them. */
export const chordSize = (processes: number) => 2 * processes;

class Timeout extends Error {}

export class Worker {
  private seq = 0;
  private tasks = 0;
  private expiringSeq = 0;
  private readonly history: HistoryWriter;
  private readonly taskExpiresMs: number;

  /**
   * `expiring`: the store with the counters' short `expires`; `expiringTasks`: the store with the
   * tasks' short `expires` (without it, no task expires during the run).
   */
  constructor(
    private readonly config: WorkerConfig,
    private readonly store: ResultStore,
    private readonly expiring: ResultStore,
    private readonly expiringTasks?: ResultStore,
  ) {
    this.history = new HistoryWriter(config.historyFile);
    this.deadline = config.deadline;
    this.taskExpiresMs = config.taskExpiresMs ?? DEFAULT_TASK_EXPIRES_MS;
  }

  async run(): Promise<void> {
    const lanes = [this.lifecycles(), this.hotIds(), this.countersAndChords()];
    if (this.config.p === 0) lanes.push(this.cleanups());
    await Promise.all(lanes);
    this.history.flush();
  }

  private deadline: number;

  /** The runner moves the deadline (later, when a restart took long; now, to stop). */
  setDeadline(deadline: number): void {
    this.deadline = deadline;
  }

  private get running(): boolean {
    return Date.now() < this.deadline;
  }

  /** Records a finished call; after a call that reached no server, the lane backs off. */
  private async record(event: ClientEvent): Promise<void> {
    this.history.add(event);
    if (event.error?.definite) await sleep(WORKLOAD.unreachablePauseMs);
  }

  /** Runs `call` with the call timeout; resolves its value or the recorded error. */
  private async timed<T>(call: () => Promise<T>): Promise<{ value?: T; error?: ErrorInfo }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout()), this.config.callTimeoutMs);
    });
    try {
      return { value: await Promise.race([call(), timeout]) };
    } catch (error) {
      return { error: describeError(error, this.config.secrets) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** One recorded write carrying this process's next metadata key; `store` may be an expiring one. */
  private async write(
    id: string,
    status: string,
    result?: unknown,
    store: ResultStore = this.store,
  ): Promise<WriteEvent> {
    const n = ++this.seq;
    const metaKey = `p${this.config.p}_${n}`;
    // Every third value nests objects and arrays, so a store copying one level shares the rest.
    const value: unknown = n % 3 === 0 ? { n, deep: { tags: ["a", n], flag: true } } : n;
    const metadata: Record<string, unknown> = { [metaKey]: value };
    const options = { metadata };
    // QUEUED also carries the task's args, one of them nested, mutated after the call like metadata.
    const args: unknown[] = [n, { deep: [n] }];
    const event: WriteEvent = {
      type: "write",
      p: this.config.p,
      id,
      status,
      metaKey,
      metaValue: clone(value),
      start: Date.now(),
      end: 0,
    };
    if (store !== this.store) event.expiresMs = this.taskExpiresMs;
    if (status === "QUEUED") event.args = clone(args);
    if (status === "SUCCESS") event.result = clone(result);
    const s = store;
    const outcome = await this.timed(() => {
      switch (status) {
        case "QUEUED":
          return s.markQueued(id, { ...options, name: "proof.task", args });
        case "STARTED":
          return s.markStarted(id, { pid: process.pid, p: this.config.p }, options);
        case "SUCCESS":
          return s.markSuccess(id, result, options);
        case "FAILURE":
          return s.markFailure(id, new Error(`failed ${n}`), options);
        case "RETRY":
          return s.markRetry(id, new Error(`retry ${n}`), options);
        case "REVOKED":
          return s.markRevoked(id, "terminated", options);
        default:
          return s.storeResult(id, { step: n }, status, options);
      }
    });
    event.end = Date.now();
    if (outcome.error) event.error = outcome.error;
    else event.applied = outcome.value?.applied;
    await this.record(event);
    // The caller reuses what it passed: nothing of this may reach a later write or read.
    metadata[`mutated_${metaKey}`] = "by the writer";
    mutateNested(value);
    mutateNested(args);
    if (result && typeof result === "object") (result as Record<string, unknown>).mutated = true;
    return event;
  }

  private async forget(id: string): Promise<void> {
    const event: ForgetEvent = { type: "forget", p: this.config.p, id, start: Date.now(), end: 0 };
    const outcome = await this.timed(() => this.store.forget(id));
    event.end = Date.now();
    if (outcome.error) event.error = outcome.error;
    await this.record(event);
  }

  private async cleanups(): Promise<void> {
    while (this.running) {
      await sleep(WORKLOAD.cleanupMs + Math.random() * WORKLOAD.cleanupJitterMs);
      if (!this.running) break;
      const event: CleanupEvent = { type: "cleanup", p: this.config.p, start: Date.now(), end: 0 };
      const outcome = await this.timed(() => this.store.cleanup());
      event.end = Date.now();
      if (outcome.error) event.error = outcome.error;
      else if (outcome.value !== undefined) event.removed = outcome.value;
      await this.record(event);
    }
  }

  private async read(ids: string[]): Promise<void> {
    const event: ReadEvent = { type: "read", p: this.config.p, ids, start: Date.now(), end: 0 };
    const outcome = await this.timed<TaskMeta[]>(() =>
      ids.length === 1
        ? this.store.getMeta(ids[0] as string).then((m) => [m])
        : this.store.getMany(ids),
    );
    event.end = Date.now();
    if (outcome.error) event.error = outcome.error;
    else
      event.states = (outcome.value ?? []).map((m) => ({
        status: m.status,
        result: clone(m.result),
        metadata: clone(m.metadata),
        ...(m.args != null ? { args: clone(m.args) } : {}),
      }));
    await this.record(event);
    // The caller changes what it was given: no later read or write may show it.
    for (const m of outcome.value ?? []) {
      try {
        m.metadata[`mutated_by_reader_p${this.config.p}`] = ++this.seq;
        for (const v of Object.values(m.metadata)) mutateNested(v);
        mutateNested(m.args);
        if (m.result && typeof m.result === "object" && !Array.isArray(m.result))
          (m.result as Record<string, unknown>).mutated = true;
      } catch {
        // A store may hand out frozen objects: then nothing can leak this way.
      }
    }
  }

  private async incr(key: string, expiring: boolean): Promise<void> {
    const by = pick(WORKLOAD.steps);
    const event: IncrEvent = {
      type: "incr",
      p: this.config.p,
      key,
      expiring,
      by,
      start: Date.now(),
      end: 0,
    };
    const store = expiring ? this.expiring : this.store;
    const outcome = await this.timed(() => store.incr(key, by));
    event.end = Date.now();
    if (outcome.error) event.error = outcome.error;
    else event.value = outcome.value;
    await this.record(event);
  }

  private successResult(): unknown {
    return { p: this.config.p, n: ++this.seq };
  }

  private async lifecycles(): Promise<void> {
    const { p, processes } = this.config;
    while (this.running) {
      if (this.expiringTasks && chance(WORKLOAD.chance.expiringLifecycle)) {
        // A few reused ids on the expiring store: each lifecycle finds its id expired (then it
        // re-creates it) or still ready (then its writes are refused).
        const id = `x${p}-${++this.expiringSeq % WORKLOAD.expiringIds}`;
        await this.lifecycle(id, this.expiringTasks);
        continue;
      }
      const id = `t${p}-${++this.tasks}`;
      const ready = await this.lifecycle(id, this.store);
      if (chance(WORKLOAD.chance.duplicateDelivery)) {
        // A duplicate delivery of this task's messages: refused once the task is ready.
        const again = pick(["STARTED", ready]);
        await this.write(id, again, again === "SUCCESS" ? this.successResult() : undefined);
      }
      if (chance(WORKLOAD.chance.forget)) {
        // Forgotten, read, and now and then run again under the same id (re-created).
        await this.forget(id);
        await this.read([id]);
        if (chance(WORKLOAD.chance.rerunForgotten)) await this.lifecycle(id, this.store);
      }
      if (chance(WORKLOAD.chance.lateMessage) && processes > 1) {
        // A late message for another process's task, which may not exist yet (or any more).
        const other = (p + 1 + Math.floor(Math.random() * (processes - 1))) % processes;
        const late = `t${other}-${1 + Math.floor(Math.random() * this.tasks)}`;
        const state = pick(WORKLOAD.lateStates);
        await this.write(late, state, state === "SUCCESS" ? this.successResult() : undefined);
        await this.read([late]);
      }
    }
  }

  /** One task's messages in order, then a read; returns the ready state it ended with. */
  private async lifecycle(id: string, store: ResultStore): Promise<string> {
    await this.write(id, "QUEUED", undefined, store);
    if (chance(WORKLOAD.chance.queuedTwice)) await this.write(id, "QUEUED", undefined, store);
    await this.write(id, "STARTED", undefined, store);
    let ready: string = pick(WORKLOAD.readyStates);
    if (ready === "RETRY") {
      await this.write(id, "RETRY", undefined, store);
      await this.write(id, "STARTED", undefined, store);
      ready = pick(WORKLOAD.afterRetry);
    }
    await this.write(id, ready, ready === "SUCCESS" ? this.successResult() : undefined, store);
    await this.read([id]);
    return ready;
  }

  private async hotIds(): Promise<void> {
    while (this.running) {
      const window = Math.floor(Date.now() / WORKLOAD.hotWindowMs);
      const ids = Array.from({ length: WORKLOAD.hotIds }, (_, k) => `h${window}-${k}`);
      const id = pick(ids);
      const roll = Math.random();
      const [, state] = WORKLOAD.hotStates.find(([bound]) => roll < bound) ?? ["", "STARTED"];
      await this.write(id, state, state === "SUCCESS" ? this.successResult() : undefined);
      if (chance(WORKLOAD.chance.hotRead))
        await this.read(chance(WORKLOAD.chance.hotReadOne) ? [id] : ids);
    }
  }

  private async countersAndChords(): Promise<void> {
    const { counterExpiresMs } = this.config;
    // Bursts of increments with pauses longer than `expires` between them: every burst finds the
    // counter expired, so several processes restart it at once (see WORKLOAD.burstMs).
    const cycle = counterExpiresMs + WORKLOAD.burstGapMs;
    let chordWindow = Math.floor(Date.now() / CHORD_WINDOW_MS);
    while (this.running) {
      await this.incr(`c${Math.floor(Math.random() * WORKLOAD.lastingCounters)}`, false);
      if (Date.now() % cycle < WORKLOAD.burstMs) {
        await this.incr(`e${Math.floor(Math.random() * WORKLOAD.expiringCounters)}`, true);
      }
      const now = Math.floor(Date.now() / CHORD_WINDOW_MS);
      for (; chordWindow < now && this.running; chordWindow++) await this.chord(chordWindow);
    }
  }

  /** Delivers this process's members of chord `window`, each member's second delivery included. */
  private async chord(window: number): Promise<void> {
    const { p } = this.config;
    const processes = this.config.chordProcesses ?? this.config.processes;
    const size = chordSize(processes);
    const members = Array.from({ length: size }, (_, j) => j).filter(
      (j) => j % processes === p || (j + 1) % processes === p,
    );
    for (const j of shuffle(members)) {
      // Members finish at different times, as tasks do: a chord firing early has a window to show.
      await sleep(Math.random() * 40);
      // A delivery that failed is redelivered, as a broker would, at most twice more.
      for (let attempt = 0; attempt < 3; attempt++) {
        const event: ChordEvent = {
          type: "chord",
          p,
          group: `g${window}`,
          member: `m${j}`,
          size,
          start: Date.now(),
          end: 0,
        };
        let fired = false;
        let firedAt = 0;
        const outcome = await this.timed(() =>
          this.store.onChordPartReturn(
            { groupId: event.group, taskId: `g${window}-m${j}`, size },
            () => {
              fired = true;
              firedAt = Date.now();
            },
          ),
        );
        event.end = Date.now();
        event.fired = fired;
        if (fired) event.firedAt = firedAt;
        if (outcome.error) event.error = outcome.error;
        else event.duplicate = outcome.value?.duplicate;
        await this.record(event);
        if (!outcome.error) break;
      }
    }
  }
}

/** What a caller could read from an error: name, code, messages, causes and properties. */
export function describeError(error: unknown, secrets: readonly string[] = []): ErrorInfo {
  if (error instanceof Timeout) {
    return { name: "Timeout", typed: true, timeout: true, text: "the client stopped waiting" };
  }
  const full = inspect(error, {
    depth: 6,
    breakLength: Number.POSITIVE_INFINITY,
    showHidden: false,
  });
  let text = full.slice(0, 8000);
  // Keep any secret (in any of its encoded forms) that the cut would hide, so the checker sees it.
  for (const form of secrets.flatMap(secretForms)) {
    const at = full.indexOf(form);
    if (at >= 8000) text += ` …${full.slice(Math.max(0, at - 100), at + form.length + 100)}`;
  }
  const e = error as { name?: string; code?: unknown };
  return {
    name: typeof e?.name === "string" ? e.name : typeof error,
    ...(typeof e?.code === "string" ? { code: e.code } : {}),
    typed: error instanceof ResultStoreError,
    ...(neverSent(error) ? { definite: true } : {}),
    text,
  };
}

/** Core's `BackendUnavailableError`: the call never reached a server, so it had no effect. */
function neverSent(error: unknown): boolean {
  return error instanceof BackendUnavailableError;
}

/** A deep copy of JSON-like data, as it was at this moment. */
function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Changes every nested object and array inside `value` (not `value` itself when a number). */
function mutateNested(value: unknown): void {
  if (!value || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.push("mutated");
    return;
  }
  const record = value as Record<string, unknown>;
  for (const v of Object.values(record)) mutateNested(v);
  if ("flag" in record) record.flag = "mutated";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const chance = (p: number) => Math.random() < p;
function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

async function main(config: WorkerConfig): Promise<void> {
  const options = { alwaysRetry: config.alwaysRetry };
  const backend = await openBackend(config.connection);
  const store = new ResultStore(backend, options);
  const expiring = new ResultStore(backend, {
    ...options,
    expires: config.counterExpiresMs / 1000,
  });
  const expiringTasks = new ResultStore(backend, {
    ...options,
    expires: (config.taskExpiresMs ?? DEFAULT_TASK_EXPIRES_MS) / 1000,
  });
  const worker = new Worker(config, store, expiring, expiringTasks);
  process.on("message", (message) => {
    if (typeof message === "string" && message.startsWith("deadline:"))
      worker.setDeadline(Number(message.slice("deadline:".length)));
  });
  process.send?.("ready");
  await worker.run();
  process.disconnect?.();
  // A server that is still down must not keep this process alive.
  await Promise.race([store.close(), new Promise((r) => setTimeout(r, 5000))]);
  process.exit(0);
}

if (process.argv[1]?.endsWith("worker.js")) {
  main(JSON.parse(process.argv[2] as string) as WorkerConfig).catch((error) => {
    process.stderr.write(`worker failed: ${inspect(error)}\n`);
    process.exit(1);
  });
}
