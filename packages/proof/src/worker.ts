/**
 * One client process of the workload. It opens its own store on the shared URL and, until the
 * deadline, runs three lanes at once, recording every call with its outcome:
 *
 * - lifecycles: QUEUED with metadata, STARTED, then SUCCESS, FAILURE, REVOKED or RETRY (then
 *   STARTED and a ready state again), each message sometimes delivered twice, plus late
 *   deliveries of any message to other processes' tasks;
 * - hot ids: every process merges its own metadata keys into the same few ids at once (PROGRESS),
 *   occasionally finishing them, and polls them with `getMeta` and `getMany`;
 * - counters and chords: `incr` on lasting counters from every process, bursts on counters whose
 *   short `expires` elapses between bursts (so they restart while in use), and chords whose every
 *   member is delivered by two processes through `onChordPartReturn`.
 *
 *   node dist/worker.js '<WorkerConfig as JSON>'
 */
import { inspect } from "node:util";
import { ResultStore, ResultStoreError, type TaskMeta } from "@resultstore/core";
import {
  type ChordEvent,
  type ErrorInfo,
  HistoryWriter,
  type IncrEvent,
  type ReadEvent,
  type WriteEvent,
} from "./history.js";
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
  /** Secrets from the URL, to find in error texts that were cut short. */
  secrets: string[];
  /** A call that takes longer is recorded as indeterminate (it may still land later). */
  callTimeoutMs: number;
}

/** Milliseconds each hot id, expiring-counter cycle and chord stays current. */
export const HOT_WINDOW_MS = 4000;
export const CHORD_WINDOW_MS = 3000;
const HOT_IDS = 4;
const LASTING_COUNTERS = 3;
const EXPIRING_COUNTERS = 2;
/** Each chord has two members per process; every member is delivered by two processes. */
export const chordSize = (processes: number) => 2 * processes;

const STATES_LATE = ["STARTED", "SUCCESS", "FAILURE", "REVOKED", "RETRY", "PROGRESS"] as const;

class Timeout extends Error {}

export class Worker {
  private seq = 0;
  private tasks = 0;
  private readonly history: HistoryWriter;

  constructor(
    private readonly config: WorkerConfig,
    private readonly store: ResultStore,
    private readonly expiring: ResultStore,
  ) {
    this.history = new HistoryWriter(config.historyFile);
    this.deadline = config.deadline;
  }

  async run(): Promise<void> {
    await Promise.all([this.lifecycles(), this.hotIds(), this.countersAndChords()]);
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

  /** One recorded write carrying this process's next metadata key. */
  private async write(id: string, status: string, result?: unknown): Promise<WriteEvent> {
    const n = ++this.seq;
    const metaKey = `p${this.config.p}_${n}`;
    const options = { metadata: { [metaKey]: n } };
    const event: WriteEvent = {
      type: "write",
      p: this.config.p,
      id,
      status,
      metaKey,
      metaValue: n,
      start: Date.now(),
      end: 0,
    };
    const s = this.store;
    const outcome = await this.timed(() => {
      switch (status) {
        case "QUEUED":
          return s.markQueued(id, { ...options, name: "proof.task", args: [n] });
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
    if (status === "SUCCESS") event.result = result;
    if (outcome.error) event.error = outcome.error;
    else event.applied = outcome.value?.applied;
    this.history.add(event);
    return event;
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
    else event.states = (outcome.value ?? []).map((m) => ({ status: m.status, result: m.result }));
    this.history.add(event);
  }

  private async incr(key: string, expiring: boolean): Promise<void> {
    const event: IncrEvent = {
      type: "incr",
      p: this.config.p,
      key,
      expiring,
      start: Date.now(),
      end: 0,
    };
    const store = expiring ? this.expiring : this.store;
    const outcome = await this.timed(() => store.incr(key));
    event.end = Date.now();
    if (outcome.error) event.error = outcome.error;
    else event.value = outcome.value;
    this.history.add(event);
  }

  private successResult(): unknown {
    return { p: this.config.p, n: ++this.seq };
  }

  private async lifecycles(): Promise<void> {
    const { p, processes } = this.config;
    while (this.running) {
      const id = `t${p}-${++this.tasks}`;
      await this.write(id, "QUEUED");
      if (chance(0.2)) await this.write(id, "QUEUED"); // the producer published twice
      await this.write(id, "STARTED");
      let ready = pick(["SUCCESS", "FAILURE", "REVOKED", "RETRY"]);
      if (ready === "RETRY") {
        await this.write(id, "RETRY", undefined);
        await this.write(id, "STARTED");
        ready = pick(["SUCCESS", "FAILURE"]);
      }
      await this.write(id, ready, ready === "SUCCESS" ? this.successResult() : undefined);
      await this.read([id]);
      if (chance(0.3)) {
        // A duplicate delivery of this task's messages: refused once the task is ready.
        const again = pick(["STARTED", ready]);
        await this.write(id, again, again === "SUCCESS" ? this.successResult() : undefined);
      }
      if (chance(0.5) && processes > 1) {
        // A late message for another process's task, which may not exist yet.
        const other = (p + 1 + Math.floor(Math.random() * (processes - 1))) % processes;
        const late = `t${other}-${1 + Math.floor(Math.random() * this.tasks)}`;
        const state = pick(STATES_LATE);
        await this.write(late, state, state === "SUCCESS" ? this.successResult() : undefined);
        await this.read([late]);
      }
    }
  }

  private async hotIds(): Promise<void> {
    while (this.running) {
      const window = Math.floor(Date.now() / HOT_WINDOW_MS);
      const ids = Array.from({ length: HOT_IDS }, (_, k) => `h${window}-${k}`);
      const id = pick(ids);
      const roll = Math.random();
      const state =
        roll < 0.8 ? "PROGRESS" : roll < 0.86 ? "SUCCESS" : roll < 0.92 ? "FAILURE" : "STARTED";
      await this.write(id, state, state === "SUCCESS" ? this.successResult() : undefined);
      if (chance(0.5)) await this.read(chance(0.5) ? [id] : ids);
    }
  }

  private async countersAndChords(): Promise<void> {
    const { counterExpiresMs } = this.config;
    // Bursts of increments with pauses longer than `expires` between them: every burst finds the
    // counter expired, so several processes restart it at once.
    const cycle = counterExpiresMs + 1500;
    let chordWindow = Math.floor(Date.now() / CHORD_WINDOW_MS);
    while (this.running) {
      await this.incr(`c${Math.floor(Math.random() * LASTING_COUNTERS)}`, false);
      if (Date.now() % cycle < 600) {
        await this.incr(`e${Math.floor(Math.random() * EXPIRING_COUNTERS)}`, true);
      }
      const now = Math.floor(Date.now() / CHORD_WINDOW_MS);
      for (; chordWindow < now && this.running; chordWindow++) await this.chord(chordWindow);
    }
  }

  /** Delivers this process's members of chord `window`, each member's second delivery included. */
  private async chord(window: number): Promise<void> {
    const { p, processes } = this.config;
    const size = chordSize(processes);
    const members = Array.from({ length: size }, (_, j) => j).filter(
      (j) => j % processes === p || (j + 1) % processes === p,
    );
    for (const j of shuffle(members)) {
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
        const outcome = await this.timed(() =>
          this.store.onChordPartReturn(
            { groupId: event.group, taskId: `g${window}-m${j}`, size },
            () => {
              fired = true;
            },
          ),
        );
        event.end = Date.now();
        event.fired = fired;
        if (outcome.error) event.error = outcome.error;
        else event.duplicate = outcome.value?.duplicate;
        this.history.add(event);
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
  // Keep any secret that the cut would hide, so the checker still sees it.
  for (const secret of secrets) {
    const at = secret ? full.indexOf(secret) : -1;
    if (at >= 8000) text += ` …${full.slice(Math.max(0, at - 100), at + secret.length + 100)}`;
  }
  const e = error as { name?: string; code?: unknown };
  return {
    name: typeof e?.name === "string" ? e.name : typeof error,
    ...(typeof e?.code === "string" ? { code: e.code } : {}),
    typed: error instanceof ResultStoreError,
    text,
  };
}

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
  const worker = new Worker(config, store, expiring);
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
