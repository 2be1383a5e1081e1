/**
 * The history: one JSON object per line, every call a client made with its start and end times
 * (milliseconds since the epoch, one clock: every process runs on the same machine) and its
 * outcome, plus the faults the runner injected and the final state read after them. The checker
 * reads nothing else, so a history file can be checked again later, or crafted by hand in tests.
 */
import { appendFileSync, readFileSync } from "node:fs";

/** A failed call. `typed` is `instanceof ResultStoreError`, decided where the class is known. */
export interface ErrorInfo {
  name: string;
  code?: string;
  typed: boolean;
  /** The message, every cause's message and every own property, as the caller could read them. */
  text: string;
  /** The client gave up waiting (the call may still land later). */
  timeout?: boolean;
  /**
   * The call provably never reached a server (core's `BackendUnavailableError`: no host up, the
   * connection refused before anything was sent): a definite failure, not an indeterminate one.
   */
  definite?: boolean;
}

/**
 * Fields every client call carries. An `error` makes the outcome indeterminate, unless it is
 * `definite` (the call had no effect).
 */
interface Call {
  /** The client process (0-based). */
  p: number;
  start: number;
  end: number;
  error?: ErrorInfo;
}

/** A state write (`markQueued`, `markStarted`, …, `storeResult`). */
export interface WriteEvent extends Call {
  type: "write";
  id: string;
  status: string;
  /** What a SUCCESS stores, to compare with what is read back. */
  result?: unknown;
  /**
   * The one metadata key this write merges (distinct per writer and write), and its value as it
   * was sent (a number, or an object with nested values; the caller mutates its own copy after
   * the call, so a later read showing the mutation shows what nobody wrote).
   */
  metaKey?: string;
  metaValue?: unknown;
  /** The write's `expires` in milliseconds, when the record is meant to expire during the run. */
  expiresMs?: number;
  /** The task's args as sent (QUEUED only), before the caller mutated them. */
  args?: unknown[];
  /** The rules' answer; absent when the call failed. */
  applied?: boolean;
}

export interface ReadState {
  status: string;
  result: unknown;
  /** The whole metadata returned, as returned (before the caller mutated it). */
  metadata?: Record<string, unknown>;
  /** The task's args, when the record has them. */
  args?: unknown;
}

/** `getMeta` (one id) or `getMany` (several). */
export interface ReadEvent extends Call {
  type: "read";
  ids: string[];
  states?: ReadState[];
}

/** `incr(key, by)`; `expiring` counters have a short `expires`, so they restart while in use. */
export interface IncrEvent extends Call {
  type: "incr";
  key: string;
  expiring: boolean;
  /** The step (1 when absent, as in histories before steps were recorded). */
  by?: number;
  value?: number;
}

/** `forget(id)`: the record is deleted; a later write re-creates the id. */
export interface ForgetEvent extends Call {
  type: "forget";
  id: string;
}

/** `cleanup()`, run while the other lanes write: it may only remove what has expired. */
export interface CleanupEvent extends Call {
  type: "cleanup";
  removed?: number;
}

/** One delivery of a chord member through `onChordPartReturn`. */
export interface ChordEvent extends Call {
  type: "chord";
  group: string;
  member: string;
  size: number;
  duplicate?: boolean;
  /** The callback ran during this call, at `firedAt`. */
  fired?: boolean;
  firedAt?: number;
}

export type FaultKind = "kill" | "pause" | "drop";

/** A fault the runner injected. `reset`: the engine keeps data in memory, so a kill erased it. */
export interface FaultEvent {
  type: "fault";
  kind: FaultKind;
  start: number;
  end: number;
  reset: boolean;
}

export interface FinalTask {
  status: string;
  result: unknown;
  metadata: Record<string, unknown>;
}

/** What the store holds after the run, every fault healed, read with patience. */
export interface FinalEvent {
  type: "final";
  start: number;
  end: number;
  tasks: Record<string, FinalTask>;
  counters: Record<string, number>;
}

/** The first line: what ran, and which secrets no error may show. */
export interface RunEvent {
  type: "run";
  backend: string;
  /** The URL with secrets masked. */
  url: string;
  secrets: string[];
  processes: number;
  /** How many of the processes were Python (resultstore-celery): the last ones. */
  python?: number;
  seconds: number;
  faults: FaultKind[];
  /** `expires` of the expiring counters, in milliseconds. */
  counterExpiresMs: number;
  /** `expires` of the expiring tasks, in milliseconds (absent: the workload had none). */
  taskExpiresMs?: number;
  start: number;
}

export type HistoryEvent =
  | RunEvent
  | WriteEvent
  | ReadEvent
  | IncrEvent
  | ChordEvent
  | ForgetEvent
  | CleanupEvent
  | FaultEvent
  | FinalEvent;

export type ClientEvent =
  | WriteEvent
  | ReadEvent
  | IncrEvent
  | ChordEvent
  | ForgetEvent
  | CleanupEvent;

export function isClientEvent(event: HistoryEvent): event is ClientEvent {
  return (
    event.type === "write" ||
    event.type === "read" ||
    event.type === "incr" ||
    event.type === "chord" ||
    event.type === "forget" ||
    event.type === "cleanup"
  );
}

/** Appends events to a JSON-lines file (synchronously: a process killed mid-run keeps its lines). */
export class HistoryWriter {
  private buffer: string[] = [];
  constructor(readonly file: string) {}

  add(event: HistoryEvent): void {
    this.buffer.push(JSON.stringify(event));
    if (this.buffer.length >= 200) this.flush();
  }

  flush(): void {
    if (!this.buffer.length) return;
    appendFileSync(this.file, `${this.buffer.join("\n")}\n`);
    this.buffer = [];
  }
}

export function readHistory(file: string): HistoryEvent[] {
  return parseHistory(readFileSync(file, "utf8"));
}

export function parseHistory(text: string): HistoryEvent[] {
  return text
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as HistoryEvent);
}
