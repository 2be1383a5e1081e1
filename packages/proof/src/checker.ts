/**
 * The checker: reads a history and reports every way it breaks the state rules, by kind. It
 * trusts nothing a client process concluded; it only compares what calls returned, when, and what
 * the store held at the end.
 *
 * Time: an observation made by a call that ended before another call started happened before it.
 * Overlapping calls are concurrent and never ordered. A call that failed (`error`) is
 * indeterminate: it may or may not have taken effect, then or later, unless the error says it
 * never reached a server (`definite`): then it had no effect, and showing one is a violation.
 *
 * Resets: an engine that keeps its data in memory (by design, e.g. DynamoDB Local -inMemory)
 * loses everything when it is killed. Each such kill (`fault` with `reset: true`) starts a new
 * epoch; observations are only compared within one epoch, and acknowledged data lost that way is
 * counted under `notes.lostToReset`, never silently ignored and never a violation.
 *
 * Vanishing records: a task's record may also go away by `forget` (from the moment the call
 * starts; for ever after, when its answer was lost) or by expiry (a write with `expiresMs`). Two
 * observations of one id are compared only when the record cannot have vanished between them;
 * after a vanish the id starts again from nothing (re-created).
 */
import { isReady, SUCCESS } from "@resultstore/core";
import {
  type ChordEvent,
  type ClientEvent,
  type FaultEvent,
  type FaultKind,
  type FinalEvent,
  type ForgetEvent,
  type HistoryEvent,
  type IncrEvent,
  isClientEvent,
  type ReadEvent,
  type RunEvent,
  type WriteEvent,
} from "./history.js";
import { findSecret } from "./secrets.js";

export const VIOLATION_KINDS = [
  /** A read (or an applied unready write) after a ready state of that id was observed. */
  "ready-regressed",
  /** A SUCCESS was observed, then a different state or result, or another applied write. */
  "success-changed",
  /** An acknowledged write that nothing may supersede is not what the final state holds. */
  "acknowledged-write-lost",
  /** The final state is one no write that could have landed carried. */
  "final-state-unexplained",
  /** A metadata key an applied write merged is missing (or different) in a later read or at the end. */
  "metadata-lost",
  /** A read misses a metadata key that a read which ended before it began showed (back in time). */
  "read-went-back",
  /** A read or the end shows a metadata key or value, or args, that no write sent (or not yet). */
  "metadata-unwritten",
  /** A write answered `applied: false`, yet its metadata key was read or is in the final state. */
  "refused-write-visible",
  /** A call that failed before reaching any server (a definite failure) took effect. */
  "failed-call-visible",
  /** A write was refused although no write that could refuse it came before it. */
  "refused-without-cause",
  /** A counter's final value is outside what its acknowledged and indeterminate increments allow. */
  "counter-mismatch",
  /** Two increments within one counter lifetime were answered overlapping values. */
  "counter-duplicate",
  /** An increment that began after another ended was answered a smaller value. */
  "counter-regressed",
  /** Within one lifetime, values were skipped that no indeterminate increment can explain. */
  "counter-skipped",
  /** A chord callback fired more than once. */
  "chord-fired-twice",
  /** A chord callback fired before every member had been delivered. */
  "chord-fired-early",
  /** Every member of a chord was delivered, none indeterminately, and the callback never fired. */
  "chord-never-fired",
  /** Outside the fault windows, more calls were indeterminate than the budget allows. */
  "indeterminate-excess",
  /** An error that is not one of core's typed errors. */
  "untyped-error",
  /** An error message, cause or property shows a secret from the URL (also base64 or %-encoded). */
  "secret-leaked",
  /** (Set by the runner) too few calls were acknowledged for the run to prove anything. */
  "inconclusive",
] as const;

export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  kind: ViolationKind;
  key: string;
  detail: string;
}

/**
 * The budget for indeterminate answers outside the fault windows: a healthy server answers, so
 * "outcome unknown" there is a bug (a refusal answered as unknown, a failure mistyped) unless it
 * is rare. Allowed: `INDETERMINATE_SLACK` calls plus `INDETERMINATE_FRACTION` of the calls made
 * outside the windows — room for a call timing out on a loaded machine, none for a backend that
 * answers a whole class of calls with an error. A fault window runs from the fault's start until
 * `FAULT_GRACE_MS` after it healed (clients reconnect; a restarted server warms up).
 */
export const INDETERMINATE_FRACTION = 0.02;
export const INDETERMINATE_SLACK = 10;
export const FAULT_GRACE_MS = 5_000;

/** Backends keep expiry in whole seconds: a record or counter may live up to this much less. */
const EXPIRY_SLACK_MS = 1000;

export interface CheckReport {
  backend: string;
  ops: number;
  /** Calls that returned an answer (for writes: applied or refused). */
  acknowledged: number;
  /** Calls that failed or timed out: they may or may not have taken effect. */
  indeterminate: number;
  /** Calls that failed before reaching any server: they had no effect. */
  failed: number;
  faults: FaultKind[];
  violations: number;
  byKind: Partial<Record<ViolationKind, number>>;
  notes: {
    /** Kills that erased an in-memory engine's data. */
    resets: number;
    /** Acknowledged writes and increments from before a reset that the end no longer holds. */
    lostToReset: number;
    /** Chords left unfired because a member's delivery was indeterminate. */
    chordsStalledByIndeterminate: number;
    /** Indeterminate calls outside the fault windows, and the budget for them. */
    indeterminateOutsideFaults?: number;
    indeterminateBudget?: number;
    /** (Set by the runner) 1 when no call succeeded after the last fault healed. */
    unrecovered?: number;
  };
  /** Up to five examples per kind, to start debugging from. */
  examples: Violation[];
}

/** Checks a whole history; `final` must be present (the runner reads it after healing faults). */
export function check(history: readonly HistoryEvent[]): CheckReport {
  const run = history.find((e): e is RunEvent => e.type === "run");
  const final = history.find((e): e is FinalEvent => e.type === "final");
  const faults = history.filter((e): e is FaultEvent => e.type === "fault");
  const calls = history.filter(isClientEvent);
  const epochs = new Epochs(faults.filter((f) => f.reset));
  const found: Violation[] = [];
  const notes: CheckReport["notes"] = {
    resets: epochs.resets.length,
    lostToReset: 0,
    chordsStalledByIndeterminate: 0,
  };
  const report = (kind: ViolationKind, key: string, detail: string) =>
    found.push({ kind, key, detail });

  checkErrors(calls, run?.secrets ?? [], report);
  const budget = checkIndeterminateBudget(calls, faults, report);
  notes.indeterminateOutsideFaults = budget.outside;
  notes.indeterminateBudget = budget.allowed;
  const writes = calls.filter((e): e is WriteEvent => e.type === "write");
  const reads = calls.filter((e): e is ReadEvent => e.type === "read");
  const vanish = new Vanishing(
    writes,
    calls.filter((e): e is ForgetEvent => e.type === "forget"),
  );
  checkObservations(writes, reads, epochs, vanish, report);
  checkKeyOrigins(writes, reads, final, report);
  if (final) {
    notes.lostToReset += checkFinalTasks(writes, final, epochs, vanish, report);
  } else {
    report("acknowledged-write-lost", "(history)", "no final state was recorded");
  }
  notes.lostToReset += checkCounters(
    calls.filter((e): e is IncrEvent => e.type === "incr"),
    final,
    epochs,
    run?.counterExpiresMs ?? 0,
    report,
  );
  notes.chordsStalledByIndeterminate = checkChords(
    calls.filter((e): e is ChordEvent => e.type === "chord"),
    epochs,
    report,
  );

  const byKind: Partial<Record<ViolationKind, number>> = {};
  for (const v of found) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
  const examples = VIOLATION_KINDS.flatMap((kind) =>
    found.filter((v) => v.kind === kind).slice(0, 5),
  );
  const failed = calls.filter((e) => e.error?.definite).length;
  const indeterminate = calls.filter((e) => e.error && !e.error.definite).length;
  return {
    backend: run?.backend ?? "unknown",
    ops: calls.length,
    acknowledged: calls.length - indeterminate - failed,
    indeterminate,
    failed,
    faults: faults.map((f) => f.kind),
    violations: found.length,
    byKind,
    notes,
    examples,
  };
}

type Report = (kind: ViolationKind, key: string, detail: string) => void;

/**
 * The largest or smallest `of` an item, without spreading the items into arguments (a lasting
 * counter can have more calls than a call has argument slots).
 */
function extreme<T>(items: readonly T[], of: (item: T) => number, pick: typeof Math.max): number {
  let best = pick === Math.max ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  for (const item of items) best = pick(best, of(item));
  return best;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Failed, but may have taken effect. */
const indeterminate = (call: ClientEvent) => Boolean(call.error && !call.error.definite);
/** A write that may have landed: applied, or indeterminate. */
const mayHaveLanded = (w: WriteEvent) => w.applied === true || indeterminate(w);

/** Epoch k is the time after the k-th reset ended; a call overlapping a reset has no epoch. */
class Epochs {
  readonly resets: FaultEvent[];
  constructor(resets: FaultEvent[]) {
    this.resets = [...resets].sort((a, b) => a.start - b.start);
  }
  /** The call's epoch, or null when a reset happened while it was in flight. */
  of(call: { start: number; end: number }): number | null {
    let epoch = 0;
    for (const r of this.resets) {
      if (r.start < call.end && r.end > call.start) return null;
      if (r.end <= call.start) epoch++;
    }
    return epoch;
  }
  get last(): number {
    return this.resets.length;
  }
}

/**
 * When a task's record may have gone away without a reset: a `forget` in flight (or one whose
 * answer was lost: from its start on), or its expiry. A record written with `expiresMs` cannot
 * have expired before `expiresMs` (less a second of slack) after the start of the applied write
 * that last refreshed it, counting any other write that may have landed meanwhile with an older
 * expiry.
 */
class Vanishing {
  private readonly forgets: Map<string, { start: number; end: number }[]>;
  /** Per expiring id, its writes in order of start, their starts, and the indeterminate ones. */
  private readonly expiring: Map<
    string,
    { writes: WriteEvent[]; starts: number[]; unknown: WriteEvent[]; ttl: number }
  >;

  constructor(writes: WriteEvent[], forgets: ForgetEvent[]) {
    this.forgets = new Map();
    for (const f of forgets) {
      if (f.error?.definite) continue;
      const list = this.forgets.get(f.id) ?? [];
      list.push({ start: f.start, end: f.error ? Number.POSITIVE_INFINITY : f.end });
      this.forgets.set(f.id, list);
    }
    this.expiring = new Map();
    const byId = groupBy(
      writes.filter((w) => w.expiresMs !== undefined),
      (w) => w.id,
    );
    for (const [id, list] of byId) {
      list.sort((a, b) => a.start - b.start);
      this.expiring.set(id, {
        writes: list,
        starts: list.map((w) => w.start),
        unknown: list.filter(indeterminate),
        // The shortest `expires` among them, less the slack for whole seconds.
        ttl: extreme(list, (w) => w.expiresMs ?? 0, Math.min) - EXPIRY_SLACK_MS,
      });
    }
  }

  /** Whether the id's record can vanish at all during the run. */
  canVanish(id: string): boolean {
    return this.forgets.has(id) || this.expiring.has(id);
  }

  /** Whether the record may have vanished at some moment in [from, to]. */
  possible(id: string, from: number, to: number): boolean {
    for (const f of this.forgets.get(id) ?? []) if (f.start <= to && f.end >= from) return true;
    const e = this.expiring.get(id);
    if (!e) return false;
    // Live throughout [from, to] if an applied write ended by `from` whose expiry lies past `to`,
    // and no write with an earlier expiry may have landed after it (a slower, older write).
    for (let i = lowerBound(e.starts, to - e.ttl + 1); i < e.writes.length; i++) {
      const w = e.writes[i] as WriteEvent;
      if (w.start > from) break;
      if (w.applied !== true || w.end > from || w.start + e.ttl <= to) continue;
      const older = (o: WriteEvent) =>
        o !== w &&
        mayHaveLanded(o) &&
        (o.error !== undefined || o.end > w.end) &&
        o.start + e.ttl <= to;
      if (e.unknown.some(older)) continue;
      // An acknowledged call lasts less than the client's timeout (10 s): look back that far.
      let spoilt = false;
      for (let j = lowerBound(e.starts, w.start - 15_000); j < i && !spoilt; j++)
        spoilt = older(e.writes[j] as WriteEvent);
      if (!spoilt) return false;
    }
    return true;
  }

  /** Observations that ended before this cannot bind one ending at `end` (expiry may intervene). */
  horizon(id: string, end: number): number {
    const e = this.expiring.get(id);
    return e ? end - e.ttl - EXPIRY_SLACK_MS : Number.NEGATIVE_INFINITY;
  }
}

function checkErrors(calls: ClientEvent[], secrets: readonly string[], report: Report): void {
  for (const call of calls) {
    if (!call.error) continue;
    const where = `${call.type} by process ${call.p} at ${call.start}`;
    if (!call.error.typed) {
      report("untyped-error", where, `${call.error.name}: ${call.error.text.slice(0, 300)}`);
    }
    const form = findSecret(call.error.text, secrets);
    if (form !== undefined) {
      const how = secrets.includes(form) ? "" : ` (encoded: ${form.slice(0, 4)}…)`;
      report("secret-leaked", where, `${call.error.name} shows a secret from the URL${how}`);
    }
  }
}

/** Indeterminate answers outside the fault windows, against the budget. */
function checkIndeterminateBudget(
  calls: ClientEvent[],
  faults: FaultEvent[],
  report: Report,
): { outside: number; allowed: number } {
  const windows = faults.map((f) => ({ start: f.start, end: f.end + FAULT_GRACE_MS }));
  const outsideCalls = calls.filter(
    (c) => !windows.some((w) => c.start <= w.end && c.end >= w.start),
  );
  const unknown = outsideCalls.filter(indeterminate);
  const allowed = Math.floor(INDETERMINATE_SLACK + INDETERMINATE_FRACTION * outsideCalls.length);
  if (unknown.length > allowed) {
    const names = [...groupBy(unknown, (c) => `${c.type} ${c.error?.name}`)]
      .map(([k, list]) => `${list.length}× ${k}`)
      .sort()
      .join(", ");
    report(
      "indeterminate-excess",
      "(run)",
      `${unknown.length} of ${outsideCalls.length} calls outside the fault windows were ` +
        `indeterminate (budget ${allowed}): ${names}`,
    );
  }
  return { outside: unknown.length, allowed };
}

/** A stable text form of a value, so results compare by content, whatever the key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** What one call showed of one id: a read's state, or an applied write's own effect. */
interface Observation {
  start: number;
  /** When it was certainly true: the end of the call that saw it. */
  end: number;
  epoch: number;
  status: string;
  result: string;
  /** Metadata keys and their canonical values it showed; null when not recorded. */
  keys: Map<string, string> | null;
  read: boolean;
  /** "applied STARTED by process 1", "read SUCCESS by process 0". */
  what: string;
  /** "an applied STARTED by process 1", "a read by process 0". */
  who: string;
}

/** What an observation must be consistent with: everything observed before it began. */
interface Prior {
  ready?: Observation;
  success?: Observation;
  /** Per key, an observation that showed it (an applied write's, when there is one). */
  keys: Map<string, { value: string; by: Observation }>;
}

function observationsOf(
  writes: WriteEvent[],
  reads: ReadEvent[],
  epochs: Epochs,
): Map<string, Observation[]> {
  const byId = new Map<string, Observation[]>();
  const add = (id: string, o: Observation) => {
    const list = byId.get(id);
    if (list) list.push(o);
    else byId.set(id, [o]);
  };
  for (const w of writes) {
    const epoch = epochs.of(w);
    if (w.applied !== true || epoch === null) continue;
    add(w.id, {
      start: w.start,
      end: w.end,
      epoch,
      status: w.status,
      result: canonical(w.result),
      keys: w.metaKey ? new Map([[w.metaKey, canonical(w.metaValue)]]) : null,
      read: false,
      what: `applied ${w.status} by process ${w.p}`,
      who: `an applied ${w.status} by process ${w.p}`,
    });
  }
  for (const r of reads) {
    const epoch = epochs.of(r);
    if (!r.states || epoch === null) continue;
    r.ids.forEach((id, i) => {
      const state = r.states?.[i];
      if (!state) return;
      add(id, {
        start: r.start,
        end: r.end,
        epoch,
        status: state.status,
        result: canonical(state.result),
        keys: state.metadata
          ? new Map(Object.entries(state.metadata).map(([k, v]) => [k, canonical(v)]))
          : null,
        read: true,
        what: `read ${state.status} by process ${r.p}`,
        who: `a read by process ${r.p}`,
      });
    });
  }
  return byId;
}

function accumulate(prior: Prior, o: Observation): void {
  if (isReady(o.status) && (!prior.ready || prior.ready.end > o.end)) prior.ready = o;
  if (o.status === SUCCESS && (!prior.success || prior.success.end > o.end)) prior.success = o;
  for (const [key, value] of o.keys ?? []) {
    const had = prior.keys.get(key);
    // Prefer the write's own observation: a lost key is then "metadata-lost", not "went back".
    if (!had || (had.by.read && !o.read)) prior.keys.set(key, { value, by: o });
  }
}

/**
 * Per id, every read (and applied write) against everything observed before it began, while the
 * record cannot have vanished in between: no unready state after a ready one, nothing but the
 * same SUCCESS after a SUCCESS, no write applied after a SUCCESS, and every metadata key seen or
 * acknowledged before still there with the same value.
 */
function checkObservations(
  writes: WriteEvent[],
  reads: ReadEvent[],
  epochs: Epochs,
  vanish: Vanishing,
  report: Report,
): void {
  for (const [id, all] of observationsOf(writes, reads, epochs)) {
    all.sort((a, b) => a.end - b.end);
    const ends = all.map((o) => o.end);
    // An id that never vanishes: what was observed before a moment only grows, so one running
    // summary per epoch, built in order of end, serves every later observation.
    const plain = !vanish.canVanish(id);
    const summaries = new Map<number, { prior: Prior; upTo: number }>();
    const priorFor = (o: Observation): Prior => {
      const before = lowerBound(ends, o.start); // observations that ended before o began
      if (plain) {
        let s = summaries.get(o.epoch);
        if (!s) {
          s = { prior: { keys: new Map() }, upTo: 0 };
          summaries.set(o.epoch, s);
        }
        for (; s.upTo < before; s.upTo++) {
          const p = all[s.upTo] as Observation;
          if (p.epoch === o.epoch) accumulate(s.prior, p);
        }
        return s.prior;
      }
      const prior: Prior = { keys: new Map() };
      const horizon = vanish.horizon(id, o.end);
      for (let i = before - 1; i >= 0; i--) {
        const p = all[i] as Observation;
        if (p.end < horizon) break;
        if (p.epoch !== o.epoch || vanish.possible(id, p.start, o.end)) continue;
        accumulate(prior, p);
      }
      return prior;
    };
    // In order of start, so the running summaries only ever move forward.
    for (const o of [...all].sort((a, b) => a.start - b.start)) {
      const prior = priorFor(o);
      verify(id, o, prior, report);
    }
  }
}

function verify(id: string, o: Observation, prior: Prior, report: Report): void {
  const by = o.who;
  const success = prior.success;
  if (success) {
    if (!o.read) {
      // Any write applied after a SUCCESS was observed broke rule 1, whatever it carried.
      report(
        "success-changed",
        id,
        `${success.what} ended at ${success.end}; then ${o.who} from ${o.start} was applied`,
      );
      return;
    }
    if (o.status !== SUCCESS || o.result !== success.result) {
      report(
        "success-changed",
        id,
        `${success.what} (${success.result}) ended at ${success.end}; then ${by} from ` +
          `${o.start} saw ${o.status} ${o.result}`,
      );
    }
  } else if (prior.ready && !isReady(o.status)) {
    report(
      "ready-regressed",
      id,
      `${prior.ready.what} ended at ${prior.ready.end}; then ${by} from ${o.start} saw ${o.status}`,
    );
  }
  if (!o.read || !o.keys) return;
  for (const [key, { value, by: source }] of prior.keys) {
    // A different value is one nobody wrote: checkKeyOrigins reports it.
    if (o.keys.has(key)) continue;
    report(
      source.read ? "read-went-back" : "metadata-lost",
      id,
      `${source.what} showed key ${key}=${value} and ended at ${source.end}; then ${by} from ` +
        `${o.start} misses it`,
    );
  }
}

/** The number of sorted `values` below `x`. */
function lowerBound(values: number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((values[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Every metadata key a read or the end shows must come from a write to that id that may have
 * landed, begun before the read ended, and carry exactly the value that write sent.
 */
function checkKeyOrigins(
  writes: WriteEvent[],
  reads: ReadEvent[],
  final: FinalEvent | undefined,
  report: Report,
): void {
  const byKey = new Map<string, WriteEvent>();
  for (const w of writes) if (w.metaKey) byKey.set(`${w.id}\u0000${w.metaKey}`, w);
  const seen = (id: string, metadata: Record<string, unknown>, end: number, by: string) => {
    for (const [key, value] of Object.entries(metadata)) {
      const w = byKey.get(`${id}\u0000${key}`);
      const shown = canonical(value);
      if (!w || w.start > end) {
        report(
          "metadata-unwritten",
          id,
          `${by} shows key ${key}=${shown.slice(0, 100)}, which no write to ${id} ` +
            `${w ? "had sent yet" : "sent"}`,
        );
      } else if (w.applied === false) {
        report(
          "refused-write-visible",
          id,
          `${w.status} by process ${w.p} from ${w.start} answered applied: false, but ${by} ` +
            `shows its key ${key}`,
        );
      } else if (w.error?.definite) {
        report(
          "failed-call-visible",
          id,
          `${w.status} by process ${w.p} from ${w.start} failed before reaching a server ` +
            `(${w.error.name}), but ${by} shows its key ${key}`,
        );
      } else if (shown !== canonical(w.metaValue)) {
        report(
          "metadata-unwritten",
          id,
          `${by} shows key ${key}=${shown.slice(0, 100)}; the ${w.status} by process ${w.p} ` +
            `sent ${canonical(w.metaValue)}`,
        );
      }
    }
  };
  // Args come only with QUEUED: a read's must be what one of the id's QUEUED writes sent (one
  // that was refused, or failed before reaching a server, had no business landing).
  const argsSent = groupBy(
    writes.filter((w) => w.args !== undefined),
    (w) => w.id,
  );
  for (const r of reads) {
    r.ids.forEach((id, i) => {
      const state = r.states?.[i];
      const by = `a read by process ${r.p} from ${r.start}`;
      if (state?.metadata) seen(id, state.metadata, r.end, by);
      if (state?.args === undefined) return;
      const shown = canonical(state.args);
      const sent = argsSent.get(id) ?? [];
      const from = sent.find((w) => w.start <= r.end && canonical(w.args) === shown);
      if (from?.applied === false) {
        report(
          "refused-write-visible",
          id,
          `QUEUED by process ${from.p} from ${from.start} answered applied: false, but ${by} ` +
            "shows its args",
        );
      } else if (from?.error?.definite) {
        report(
          "failed-call-visible",
          id,
          `QUEUED by process ${from.p} from ${from.start} failed before reaching a server ` +
            `(${from.error.name}), but ${by} shows its args`,
        );
      } else if (!from) {
        report(
          "metadata-unwritten",
          id,
          `${by} shows args ${shown.slice(0, 100)}, which no QUEUED write to ${id} sent` +
            (sent.length ? ` (they sent ${canonical(sent[0]?.args).slice(0, 100)}, …)` : ""),
        );
      }
    });
  }
  if (!final) return;
  for (const [id, task] of Object.entries(final.tasks))
    seen(id, task.metadata ?? {}, final.end, "the final state");
}

/** The final state against the writes of the last epoch. Returns writes lost to resets. */
function checkFinalTasks(
  writes: WriteEvent[],
  final: FinalEvent,
  epochs: Epochs,
  vanish: Vanishing,
  report: Report,
): number {
  let lostToReset = 0;
  const byId = groupBy(writes, (w) => w.id);

  for (const [id, all] of byId) {
    const end = final.tasks[id] ?? { status: "PENDING", result: null, metadata: {} };
    const metadata = end.metadata ?? {};
    const current = all.filter((w) => epochs.of(w) === epochs.last);
    const spanning = all.filter((w) => epochs.of(w) === null);
    for (const w of all) {
      const epoch = epochs.of(w);
      if (w.applied === true && epoch !== null && epoch < epochs.last && w.metaKey) {
        if (canonical(metadata[w.metaKey]) !== canonical(w.metaValue)) lostToReset++;
      }
    }
    // What the end must still hold: applied writes the record cannot have lost since.
    // The final state is read over [final.start, final.end]: it may show an expiry in that span.
    const lasting = (w: WriteEvent) => !vanish.possible(id, w.start, final.end);
    const applied = current.filter((w) => w.applied === true && lasting(w));
    const landed = [...current.filter(mayHaveLanded), ...spanning.filter(mayHaveLanded)];

    const success = applied.find((w) => w.status === SUCCESS);
    if (success) {
      if (end.status !== SUCCESS || canonical(end.result) !== canonical(success.result)) {
        report(
          "acknowledged-write-lost",
          id,
          `SUCCESS ${canonical(success.result)} by process ${success.p} was applied; ` +
            `the end holds ${end.status} ${canonical(end.result)}`,
        );
      }
    } else if (applied.some((w) => isReady(w.status)) && !isReady(end.status)) {
      report(
        "acknowledged-write-lost",
        id,
        `a ready state was applied; the end holds ${end.status}`,
      );
    }
    // The last write: applied, and every other write that may have landed ended before it began
    // (an indeterminate one may land any time after it began: it never ends).
    const ends = landed
      .map((w) => (indeterminate(w) ? Number.POSITIVE_INFINITY : w.end))
      .sort((a, b) => b - a);
    for (const w of applied) {
      // The latest end among the other writes: the second-latest of all when w itself is latest.
      const othersLatest = ends[0] === w.end ? (ends[1] ?? -1) : (ends[0] ?? -1);
      if (othersLatest >= w.start) continue;
      const sameResult = w.status !== SUCCESS || canonical(end.result) === canonical(w.result);
      if (end.status !== w.status || !sameResult) {
        report(
          "acknowledged-write-lost",
          id,
          `the last write, ${w.status} by process ${w.p} from ${w.start}, was applied; ` +
            `the end holds ${end.status}`,
        );
      }
    }
    if (end.status === "PENDING") {
      if (applied.length) {
        report(
          "acknowledged-write-lost",
          id,
          `${applied.length} writes were applied; the end holds nothing`,
        );
      }
    } else if (!landed.some((w) => w.status === end.status)) {
      report(
        "final-state-unexplained",
        id,
        `the end holds ${end.status}, which no write that may have landed carried`,
      );
    }
    for (const w of applied) {
      if (!w.metaKey) continue;
      if (canonical(metadata[w.metaKey]) !== canonical(w.metaValue)) {
        report(
          "metadata-lost",
          id,
          `key ${w.metaKey} merged by an applied ${w.status} (process ${w.p}) is ` +
            `${metadata[w.metaKey] === undefined ? "missing" : "different"} at the end`,
        );
      }
    }
    checkRefusals(id, all, epochs, report);
  }
  return lostToReset;
}

/** A refused write needs a cause: a ready state (SUCCESS for a ready write) that began before it ended. */
function checkRefusals(id: string, all: WriteEvent[], epochs: Epochs, report: Report): void {
  const byStart = (list: WriteEvent[]) => list.sort((a, b) => a.start - b.start);
  const landed = all.filter(mayHaveLanded);
  const readyWrites = byStart(landed.filter((o) => isReady(o.status)));
  const successes = byStart(landed.filter((o) => o.status === SUCCESS));
  for (const w of all) {
    if (w.applied !== false) continue;
    const epoch = epochs.of(w);
    let caused = false;
    for (const o of isReady(w.status) ? successes : readyWrites) {
      if (o.start > w.end) break; // same millisecond: either order
      const other = epochs.of(o);
      if (epoch === null || other === null || other >= epoch) {
        caused = true;
        break;
      }
    }
    if (!caused) {
      report(
        "refused-without-cause",
        id,
        `${w.status} by process ${w.p} from ${w.start} to ${w.end} answered applied: false, ` +
          "and no write that could refuse it came first (a transport retry of a write that had landed?)",
      );
    }
  }
}

const stepOf = (e: IncrEvent) => e.by ?? 1;

/**
 * Counters. An acknowledged `incr(key, by)` answered v took the counter from v - by to v: the
 * units (v - by, v] are its own. Within one lifetime (a lasting counter has one per epoch; an
 * expiring one starts a new one after every pause longer than its `expires`):
 * - no unit belongs to two acknowledged increments (`counter-duplicate`);
 * - an increment that began after another ended was answered more (`counter-regressed`);
 * - every unit from 1 to the largest answer belongs to an acknowledged increment, except as many
 *   as the indeterminate increments could have taken (`counter-skipped`);
 * - a lasting counter's final value lies between its acknowledged steps and those plus the
 *   indeterminate ones (`counter-mismatch`).
 * An expiring counter's lifetime can also restart while calls are in flight (a call held up by a
 * paused server); a stretch of calls too long to be sure it is one lifetime is checked only for
 * duplicates between calls close enough in time.
 */
function checkCounters(
  incrs: IncrEvent[],
  final: FinalEvent | undefined,
  epochs: Epochs,
  expiresMs: number,
  report: Report,
): number {
  let lostToReset = 0;
  // Two calls can only be in different lifetimes of an expiring counter if it could have expired
  // between the moments they took effect: a lifetime lasts at least `expires` from the start of
  // each call in it, less the slack for whole seconds (PROOF.md finding 13).
  const window = expiresMs - Math.min(EXPIRY_SLACK_MS, expiresMs / 3);
  for (const [key, all] of groupBy(incrs, (e) => e.key)) {
    const expiring = all[0]?.expiring ?? false;
    const byEpoch = groupBy(
      all.filter((e) => !e.error?.definite),
      (e) => String(epochs.of(e)),
    );
    for (const [epochName, inEpoch] of byEpoch) {
      if (epochName === "null") continue;
      // Calls spanning the reset that began this epoch, or the one that ended it, may have
      // counted in it (a call cut by a kill may have landed just before the kill).
      const epoch = Number(epochName);
      const bounds = [epochs.resets[epoch - 1], epochs.resets[epoch]].filter(
        (r): r is FaultEvent => r !== undefined,
      );
      const spanning = all.filter(
        (e) =>
          epochs.of(e) === null &&
          indeterminateOrAcked(e) &&
          bounds.some((r) => e.start < r.end && e.end > r.start),
      );
      const lifetimes = expiring ? splitLifetimes(inEpoch, expiresMs) : [inEpoch];
      for (const life of lifetimes) {
        const acked = life.filter((e) => e.value !== undefined);
        const single = !expiring || spanOf(life) < window;
        checkDuplicates(key, acked, expiring && !single ? window : 0, report);
        if (!single) continue;
        checkRealTime(key, acked, report);
        // An indeterminate call may land any time after it began (a request still in a buffer
        // when the connection was cut), so calls of earlier lifetimes count too.
        const lifeEnd = extreme(life, (e) => e.end, Math.max);
        const unknown = inEpoch.filter((e) => indeterminate(e) && e.start < lifeEnd);
        checkSkipped(key, acked, unknown, spanning, report);
      }
    }
    if (expiring) continue;
    const inLast = all.filter((e) => epochs.of(e) === epochs.last);
    const ackedHere = inLast
      .filter((e) => e.value !== undefined)
      .reduce((s, e) => s + stepOf(e), 0);
    const maybe = [
      ...inLast.filter(indeterminate),
      ...all.filter((e) => epochs.of(e) === null && indeterminateOrAcked(e)),
    ].reduce((s, e) => s + stepOf(e), 0);
    lostToReset += all.filter(
      (e) => e.value !== undefined && (epochs.of(e) ?? epochs.last) < epochs.last,
    ).length;
    if (!final) continue;
    const value = final.counters[key] ?? 0;
    if (value < ackedHere || value > ackedHere + maybe) {
      report(
        "counter-mismatch",
        key,
        `final value ${value}; acknowledged increments add ${ackedHere} and indeterminate ones ` +
          `up to ${maybe}: ${ackedHere}..${ackedHere + maybe}`,
      );
    }
  }
  return lostToReset;
}

const indeterminateOrAcked = (e: IncrEvent) => !e.error?.definite;

/** The time from the first start to the last end. */
function spanOf(calls: IncrEvent[]): number {
  if (!calls.length) return 0;
  return extreme(calls, (e) => e.end, Math.max) - extreme(calls, (e) => e.start, Math.min);
}

/**
 * Splits an expiring counter's calls where no call was in flight for longer than `expires` plus
 * the slack: the counter certainly expired there, so the next call starts a new lifetime at 0.
 */
function splitLifetimes(calls: IncrEvent[], expiresMs: number): IncrEvent[][] {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  const lifetimes: IncrEvent[][] = [];
  let current: IncrEvent[] = [];
  let reach = Number.NEGATIVE_INFINITY;
  for (const e of sorted) {
    if (current.length && e.start - reach > expiresMs + EXPIRY_SLACK_MS) {
      lifetimes.push(current);
      current = [];
    }
    current.push(e);
    reach = Math.max(reach, e.end);
  }
  if (current.length) lifetimes.push(current);
  return lifetimes;
}

/**
 * Overlapping answers. `window` > 0: the calls may span lifetimes, so only pairs that cannot
 * have taken effect `window` apart count.
 */
function checkDuplicates(key: string, acked: IncrEvent[], window: number, report: Report): void {
  const low = (e: IncrEvent) => (e.value as number) - stepOf(e);
  const sorted = [...acked].sort((a, b) => low(a) - low(b));
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as IncrEvent;
    // In order of lowest unit: every later call starting below a's highest unit overlaps it.
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as IncrEvent;
      if (low(b) >= (a.value as number)) break;
      if (window && farthestApart(a, b) >= window) continue;
      report(
        "counter-duplicate",
        key,
        `value ${a.value} (+${stepOf(a)}) returned to process ${a.p} (${a.start}–${a.end}) and ` +
          `${b.value} (+${stepOf(b)}) to process ${b.p} (${b.start}–${b.end}) within one lifetime`,
      );
    }
  }
}

/** A call that began after another ended never sees less than it. */
function checkRealTime(key: string, acked: IncrEvent[], report: Report): void {
  const byEnd = [...acked].sort((a, b) => a.end - b.end);
  const ends = byEnd.map((e) => e.end);
  // best[k]: the largest answer among the first k calls to end.
  const best: (IncrEvent | undefined)[] = [undefined];
  for (const e of byEnd) {
    const prev = best[best.length - 1];
    best.push(prev && (prev.value as number) >= (e.value as number) ? prev : e);
  }
  for (const b of acked) {
    const a = best[lowerBound(ends, b.start)];
    if (a && (b.value as number) < (a.value as number)) {
      report(
        "counter-regressed",
        key,
        `process ${a.p} was answered ${a.value} at ${a.end}; then process ${b.p}'s increment ` +
          `from ${b.start} was answered ${b.value}`,
      );
    }
  }
}

/**
 * Units from 1 to the largest answer that no acknowledged increment took must be taken by
 * indeterminate increments, each at most once and only by one that began before the
 * acknowledged call just above the gap ended (an indeterminate call may land long after it
 * failed, but never before it began). So for every gap, the units of that gap and all gaps
 * below it must not exceed the steps of the indeterminate calls (`unknown`, and those `spanning`
 * a reset) that began before the call above that gap ended.
 */
function checkSkipped(
  key: string,
  acked: IncrEvent[],
  unknown: IncrEvent[],
  spanning: IncrEvent[],
  report: Report,
): void {
  if (!acked.length) return;
  const low = (e: IncrEvent) => (e.value as number) - stepOf(e);
  const sorted = [...acked].sort((a, b) => low(a) - low(b));
  const candidates = [...spanning, ...unknown].sort((a, b) => a.start - b.start);
  const starts = candidates.map((u) => u.start);
  // stepsBefore[k]: the steps of the first k candidates to begin.
  const stepsBefore = [0];
  for (const u of candidates) stepsBefore.push((stepsBefore.at(-1) as number) + stepOf(u));
  let covered = 0;
  let below: IncrEvent | undefined;
  let gaps = 0;
  for (const e of sorted) {
    if (low(e) > covered) {
      gaps += low(e) - covered;
      const fill = stepsBefore[lowerBound(starts, e.end)] as number;
      if (gaps > fill) {
        const after = below
          ? `${below.value} (process ${below.p}, ${below.start}–${below.end})`
          : "the start";
        report(
          "counter-skipped",
          key,
          `units ${covered + 1}..${low(e)}, between ${after} and ${e.value} (+${stepOf(e)}, ` +
            `process ${e.p}, ${e.start}–${e.end}), went to no acknowledged increment; with the ` +
            `gaps below them that is ${gaps} units, and the indeterminate increments begun ` +
            `before ${e.end} add up to ${fill}`,
        );
        return; // one report per lifetime: every gap above this one is short too
      }
    }
    if ((e.value as number) > covered) {
      covered = e.value as number;
      below = e;
    }
  }
}

/** The longest time that can separate the moments two calls took effect. */
function farthestApart(a: IncrEvent, b: IncrEvent): number {
  return Math.max(b.end - a.start, a.end - b.start);
}

/** Each chord whose members were all delivered fires exactly once. Returns chords stalled. */
function checkChords(deliveries: ChordEvent[], epochs: Epochs, report: Report): number {
  let stalled = 0;
  const byGroup = groupBy(deliveries, (d) => d.group);
  for (const [group, all] of byGroup) {
    const fired = all.filter((d) => d.fired).length;
    const epochSet = new Set(all.map((d) => epochs.of(d)));
    if (epochSet.size > 1 || epochSet.has(null)) continue; // a reset erased its counters midway
    if (fired > 1) {
      report("chord-fired-twice", group, `the callback fired ${fired} times`);
      continue;
    }
    const size = all[0]?.size ?? 0;
    const firing = all.find((d) => d.fired);
    if (firing) {
      // Every member needs a delivery that began before the firing call ended (and may have
      // landed: one that never reached a server does not count).
      const at = firing.firedAt ?? firing.end;
      const members = new Set(
        all.filter((d) => !d.error?.definite && d.start <= at).map((d) => d.member),
      );
      if (members.size < size) {
        report(
          "chord-fired-early",
          group,
          `the callback fired in process ${firing.p}'s delivery of ${firing.member} ` +
            `(${firing.start}–${firing.end}) when only ${members.size} of ${size} members had been delivered`,
        );
      }
    }
    const delivered = new Set(all.filter((d) => !d.error).map((d) => d.member));
    if (fired === 0 && delivered.size >= size) {
      // A delivery that failed definitely had no effect: only an indeterminate one can stall.
      if (all.some(indeterminate)) stalled++;
      else
        report(
          "chord-never-fired",
          group,
          `all ${size} members delivered; the callback never fired`,
        );
    }
  }
  return stalled;
}
