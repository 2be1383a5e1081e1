/**
 * The checker: reads a history and reports every way it breaks the state rules, by kind. It
 * trusts nothing a client process concluded; it only compares what calls returned, when, and what
 * the store held at the end.
 *
 * Time: an observation made by a call that ended before another call started happened before it.
 * Overlapping calls are concurrent and never ordered. A call that failed (`error`) is
 * indeterminate: it may or may not have taken effect, then or later.
 *
 * Resets: an engine that keeps its data in memory (by design, e.g. DynamoDB Local -inMemory)
 * loses everything when it is killed. Each such kill (`fault` with `reset: true`) starts a new
 * epoch; observations are only compared within one epoch, and acknowledged data lost that way is
 * counted under `notes.lostToReset`, never silently ignored and never a violation.
 */
import { isReady, SUCCESS } from "@resultstore/core";
import {
  type ChordEvent,
  type ClientEvent,
  type FaultEvent,
  type FaultKind,
  type FinalEvent,
  type HistoryEvent,
  type IncrEvent,
  isClientEvent,
  type ReadEvent,
  type ReadState,
  type RunEvent,
  type WriteEvent,
} from "./history.js";

export const VIOLATION_KINDS = [
  /** A read (or an applied unready write) after a ready state of that id was observed. */
  "ready-regressed",
  /** A SUCCESS was observed, then a different state or result, or another applied write. */
  "success-changed",
  /** An acknowledged write that nothing may supersede is not what the final state holds. */
  "acknowledged-write-lost",
  /** The final state is one no write that could have landed carried. */
  "final-state-unexplained",
  /** A metadata key an applied write merged is missing (or different) at the end. */
  "metadata-lost",
  /** A write answered `applied: false`, yet its metadata key is in the final state. */
  "refused-write-visible",
  /** A write was refused although no write that could refuse it came before it. */
  "refused-without-cause",
  /** A counter's final value is outside what its acknowledged and indeterminate increments allow. */
  "counter-mismatch",
  /** One counter value was returned twice within one counter lifetime. */
  "counter-duplicate",
  /** A chord callback fired more than once. */
  "chord-fired-twice",
  /** Every member of a chord was delivered, none indeterminately, and the callback never fired. */
  "chord-never-fired",
  /** An error that is not one of core's typed errors. */
  "untyped-error",
  /** An error message, cause or property shows a secret from the URL. */
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

export interface CheckReport {
  backend: string;
  ops: number;
  /** Calls that returned an answer (for writes: applied or refused). */
  acknowledged: number;
  /** Calls that failed or timed out: they may or may not have taken effect. */
  indeterminate: number;
  faults: FaultKind[];
  violations: number;
  byKind: Partial<Record<ViolationKind, number>>;
  notes: {
    /** Kills that erased an in-memory engine's data. */
    resets: number;
    /** Acknowledged writes and increments from before a reset that the end no longer holds. */
    lostToReset: number;
    /** Chords left unfired because a member's delivery was indeterminate (incr is not idempotent). */
    chordsStalledByIndeterminate: number;
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
  const notes = { resets: epochs.resets.length, lostToReset: 0, chordsStalledByIndeterminate: 0 };
  const report = (kind: ViolationKind, key: string, detail: string) =>
    found.push({ kind, key, detail });

  checkErrors(calls, run?.secrets ?? [], report);
  const writes = calls.filter((e): e is WriteEvent => e.type === "write");
  const reads = calls.filter((e): e is ReadEvent => e.type === "read");
  checkObservations(writes, reads, epochs, report);
  if (final) {
    notes.lostToReset += checkFinalTasks(writes, final, epochs, report);
    notes.lostToReset += checkCounters(
      calls.filter((e): e is IncrEvent => e.type === "incr"),
      final,
      epochs,
      run?.counterExpiresMs ?? 0,
      report,
    );
  } else {
    report("acknowledged-write-lost", "(history)", "no final state was recorded");
  }
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
  const indeterminate = calls.filter((e) => e.error).length;
  return {
    backend: run?.backend ?? "unknown",
    ops: calls.length,
    acknowledged: calls.length - indeterminate,
    indeterminate,
    faults: faults.map((f) => f.kind),
    violations: found.length,
    byKind,
    notes,
    examples,
  };
}

type Report = (kind: ViolationKind, key: string, detail: string) => void;

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

function checkErrors(calls: ClientEvent[], secrets: readonly string[], report: Report): void {
  for (const call of calls) {
    if (!call.error) continue;
    const where = `${call.type} by process ${call.p} at ${call.start}`;
    if (!call.error.typed) {
      report("untyped-error", where, `${call.error.name}: ${call.error.text.slice(0, 300)}`);
    }
    for (const secret of secrets) {
      if (secret && call.error.text.includes(secret)) {
        report("secret-leaked", where, `${call.error.name} shows a secret from the URL`);
      }
    }
  }
}

/** A stable text form of a value, so results compare by content, whatever the key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

interface Observation {
  /** When it was certainly true: the end of the call that saw it. */
  end: number;
  status: string;
  result: string;
  epoch: number;
  what: string;
}

/**
 * Reads and applied writes, per id, against everything observed before them in the same epoch:
 * no unready state after a ready one, nothing but the same SUCCESS after a SUCCESS. Only the
 * first ready and the first SUCCESS observation matter: every later one is checked against them.
 */
function checkObservations(
  writes: WriteEvent[],
  reads: ReadEvent[],
  epochs: Epochs,
  report: Report,
): void {
  const observations: (Observation & { id: string })[] = [];
  for (const w of writes) {
    const epoch = epochs.of(w);
    if (w.applied !== true || epoch === null) continue;
    observations.push({
      id: w.id,
      end: w.end,
      status: w.status,
      result: canonical(w.result),
      epoch,
      what: `applied ${w.status} by process ${w.p}`,
    });
  }
  for (const r of reads) {
    const epoch = epochs.of(r);
    if (!r.states || epoch === null) continue;
    r.ids.forEach((id, i) => {
      const state = r.states?.[i];
      if (!state) return;
      observations.push({
        id,
        end: r.end,
        status: state.status,
        result: canonical(state.result),
        epoch,
        what: `read ${state.status} by process ${r.p}`,
      });
    });
  }
  // Per id and epoch, the earliest-ending ready and SUCCESS observations.
  const firstReady = new Map<string, Observation>();
  const firstSuccess = new Map<string, Observation>();
  for (const o of observations) {
    const key = `${o.epoch}:${o.id}`;
    if (isReady(o.status) && (firstReady.get(key)?.end ?? Number.POSITIVE_INFINITY) > o.end)
      firstReady.set(key, o);
    if (o.status === SUCCESS && (firstSuccess.get(key)?.end ?? Number.POSITIVE_INFINITY) > o.end)
      firstSuccess.set(key, o);
  }
  const verify = (id: string, epoch: number, start: number, seen: ReadState, by: string) => {
    const success = firstSuccess.get(`${epoch}:${id}`);
    if (success && success.end < start) {
      if (seen.status !== SUCCESS || canonical(seen.result) !== success.result) {
        report(
          "success-changed",
          id,
          `${success.what} (${success.result}) ended at ${success.end}; then ${by} from ${start} ` +
            `saw ${seen.status} ${canonical(seen.result)}`,
        );
      }
      return;
    }
    const ready = firstReady.get(`${epoch}:${id}`);
    if (ready && ready.end < start && !isReady(seen.status)) {
      report(
        "ready-regressed",
        id,
        `${ready.what} ended at ${ready.end}; then ${by} from ${start} saw ${seen.status}`,
      );
    }
  };
  for (const r of reads) {
    const epoch = epochs.of(r);
    if (!r.states || epoch === null) continue;
    r.ids.forEach((id, i) => {
      const state = r.states?.[i];
      if (state) verify(id, epoch, r.start, state, `a read by process ${r.p}`);
    });
  }
  for (const w of writes) {
    const epoch = epochs.of(w);
    if (w.applied !== true || epoch === null) continue;
    const success = firstSuccess.get(`${epoch}:${w.id}`);
    if (success && success.end < w.start) {
      // Any write applied after a SUCCESS was observed broke rule 1, whatever it carried.
      report(
        "success-changed",
        w.id,
        `${success.what} ended at ${success.end}; then a ${w.status} by process ${w.p} ` +
          `from ${w.start} was applied`,
      );
      continue;
    }
    verify(
      w.id,
      epoch,
      w.start,
      { status: w.status, result: w.result },
      `an applied write by process ${w.p}`,
    );
  }
}

/** The final state against the writes of the last epoch. Returns writes lost to resets. */
function checkFinalTasks(
  writes: WriteEvent[],
  final: FinalEvent,
  epochs: Epochs,
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
        if (metadata[w.metaKey] !== w.metaValue) lostToReset++;
      }
    }
    const applied = current.filter((w) => w.applied === true);
    const mayHaveLanded = [...current.filter((w) => w.applied !== false), ...spanning];

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
    // The last write: applied, and every other write that may have landed ended before it began.
    const ends = mayHaveLanded.map((w) => w.end).sort((a, b) => b - a);
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
    } else if (!mayHaveLanded.some((w) => w.status === end.status)) {
      report(
        "final-state-unexplained",
        id,
        `the end holds ${end.status}, which no write that may have landed carried`,
      );
    }
    for (const w of current) {
      if (!w.metaKey) continue;
      if (w.applied === true && metadata[w.metaKey] !== w.metaValue) {
        report(
          "metadata-lost",
          id,
          `key ${w.metaKey} merged by an applied ${w.status} (process ${w.p}) is ` +
            `${metadata[w.metaKey] === undefined ? "missing" : "different"} at the end`,
        );
      }
      if (w.applied === false && w.metaKey in metadata) {
        report(
          "refused-write-visible",
          id,
          `${w.status} by process ${w.p} from ${w.start} answered applied: false, ` +
            `but its key ${w.metaKey} is stored`,
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
  const landed = all.filter((o) => o.applied !== false);
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

/**
 * Counters: each acknowledged value is unique within a lifetime; a lasting counter's final value
 * lies between its acknowledged increments and those plus the indeterminate ones.
 */
function checkCounters(
  incrs: IncrEvent[],
  final: FinalEvent,
  epochs: Epochs,
  expiresMs: number,
  report: Report,
): number {
  let lostToReset = 0;
  const byKey = groupBy(incrs, (e) => e.key);
  for (const [key, all] of byKey) {
    const acked = all
      .filter((e) => e.value !== undefined && epochs.of(e) !== null)
      .sort((a, b) => a.start - b.start);
    // Two calls can only be in different lifetimes of an expiring counter if it could have
    // expired between the moments they took effect. A lifetime lasts at least `expires` from
    // the start of each call in it (core fixes a call's expiry when it is called), so the later
    // one must end that long after the earlier one started. Either may be the later one: a call
    // held up by a paused server can find the counter restarted by a call that started after it,
    // wait past that lifetime, and restart it again (PROOF.md finding 13). Up to a second of
    // slack covers backends that keep expiry in whole seconds.
    // A lasting counter has one lifetime per epoch.
    const window = expiresMs - Math.min(1000, expiresMs / 3);
    const sameValue = groupBy(acked, (e) => `${epochs.of(e)}:${e.value}`);
    for (const group of sameValue.values()) {
      // Every pair: one long call can be far enough from both of two others that are not.
      for (let i = 0; i < group.length; i++) {
        for (let j = i + 1; j < group.length; j++) {
          const a = group[i] as IncrEvent;
          const b = group[j] as IncrEvent;
          if (a.expiring && farthestApart(a, b) >= window) continue;
          report(
            "counter-duplicate",
            key,
            `value ${a.value} returned to process ${a.p} (${a.start}–${a.end}) and to process ${b.p} ` +
              `(${b.start}–${b.end}) within one lifetime`,
          );
        }
      }
    }
    if (all[0]?.expiring) continue;
    const inLast = all.filter((e) => epochs.of(e) === epochs.last);
    const ackedHere = inLast.filter((e) => e.value !== undefined).length;
    const maybe =
      inLast.filter((e) => e.error).length + all.filter((e) => epochs.of(e) === null).length;
    lostToReset += all.filter(
      (e) => e.value !== undefined && (epochs.of(e) ?? epochs.last) < epochs.last,
    ).length;
    const value = final.counters[key] ?? 0;
    if (value < ackedHere || value > ackedHere + maybe) {
      report(
        "counter-mismatch",
        key,
        `final value ${value}; ${ackedHere} acknowledged increments and ${maybe} indeterminate ones ` +
          `allow ${ackedHere}..${ackedHere + maybe}`,
      );
    }
  }
  return lostToReset;
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
    const delivered = new Set(all.filter((d) => !d.error).map((d) => d.member));
    if (fired === 0 && delivered.size >= size) {
      if (all.some((d) => d.error)) stalled++;
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
