/**
 * The embedded default (`memory://`) and the reference implementation of every rule: what each
 * database backend must reproduce on its server, atomically.
 */
import { decodeJson, encodeJson } from "./codec.js";
import { type ListedFields, matchesCountQuery, matchesFindQuery } from "./find.js";
import { type IndexEntry, PositionIndex } from "./position-index.js";
import { applyWrite, assertRecordFits, isExpired } from "./record.js";
import { canTransition, type TaskState } from "./states.js";
import type {
  BackendCapabilities,
  CountQuery,
  FindQuery,
  GroupRecord,
  ResultBackend,
  TaskRecord,
  TaskWrite,
  WriteOutcome,
} from "./types.js";

/** Options of the in-memory backend (`memory://`). */
export interface MemoryBackendOptions {
  /** Largest record accepted, in bytes. @default 16 MiB (MongoDB's document limit) */
  maxRecordBytes?: number;
}

/**
 * A stored record. Scalars are kept as they are (strings and numbers cannot be mutated through a
 * shared reference); every structured value is kept as Celery JSON, as a database keeps it, so
 * what comes back out is what the codec can carry. Checking the state rules or expiry decodes
 * nothing; only the small structured fields are decoded to merge a write.
 */
interface FrozenRecord {
  taskId: string;
  status: string;
  traceback: string | null;
  dateDone: number | null;
  updatedAt: number | null;
  expiresAt: number | null;
  /** The write that placed the record in `find`'s index (see PositionIndex). */
  seq: number;
  groupId: string | null;
  parentId: string | null;
  name: string | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
  resultJson: string;
  childrenJson: string | null;
  argsJson: string | null;
  kwargsJson: string | null;
  metadataJson: string | null;
}

const freezeJson = (value: unknown): string | null =>
  value === null || value === undefined ? null : encodeJson(value);
const thawJson = <T>(text: string | null): T | null =>
  text === null ? null : (decodeJson(text) as T);
const toDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function freeze(record: TaskRecord, resultJson: string): FrozenRecord {
  return {
    taskId: record.taskId,
    status: record.status,
    traceback: record.traceback,
    dateDone: record.dateDone?.getTime() ?? null,
    updatedAt: record.updatedAt?.getTime() ?? null,
    expiresAt: record.expiresAt?.getTime() ?? null,
    seq: 0,
    groupId: record.groupId,
    parentId: record.parentId,
    name: record.name,
    worker: record.worker,
    retries: record.retries,
    queue: record.queue,
    resultJson,
    childrenJson: freezeJson(record.children),
    argsJson: freezeJson(record.args),
    kwargsJson: freezeJson(record.kwargs),
    metadataJson: Object.keys(record.metadata).length > 0 ? encodeJson(record.metadata) : null,
  };
}

/** The record; its result is decoded only when asked for (a write replaces it anyway). */
function thaw(frozen: FrozenRecord | undefined, withResult = true): TaskRecord | null {
  if (!frozen) return null;
  return {
    taskId: frozen.taskId,
    status: frozen.status,
    result: withResult ? decodeJson(frozen.resultJson) : null,
    traceback: frozen.traceback,
    children: thawJson(frozen.childrenJson),
    dateDone: toDate(frozen.dateDone),
    updatedAt: toDate(frozen.updatedAt),
    groupId: frozen.groupId,
    parentId: frozen.parentId,
    name: frozen.name,
    args: thawJson(frozen.argsJson),
    kwargs: thawJson(frozen.kwargsJson),
    worker: frozen.worker,
    retries: frozen.retries,
    queue: frozen.queue,
    metadata: thawJson<Record<string, unknown>>(frozen.metadataJson) ?? {},
    expiresAt: toDate(frozen.expiresAt),
  };
}

/** `find`'s effective time of a stored record, in ms; -Infinity (the oldest) when it has none. */
const timeOf = (frozen: FrozenRecord): number =>
  frozen.updatedAt ?? frozen.dateDone ?? Number.NEGATIVE_INFINITY;

/** What a query's criteria read of a stored record; its metadata is decoded only when asked for. */
function listedFields(frozen: FrozenRecord): ListedFields {
  return {
    taskId: frozen.taskId,
    status: frozen.status,
    name: frozen.name,
    get metadata() {
      return thawJson<Record<string, unknown>>(frozen.metadataJson) ?? {};
    },
    updatedAt: toDate(frozen.updatedAt),
    dateDone: toDate(frozen.dateDone),
    expiresAt: toDate(frozen.expiresAt),
  };
}

/**
 * A cheap first pass of `query`'s criteria on a stored record, which allocates nothing: its state,
 * its name, and each string metadata value's JSON text inside the stored metadata's (a string
 * equal to the wanted one encodes to the same text). Records it lets through still get the exact
 * check. Without it, a find for a rare state and tenant built a record view (three Dates) and
 * decoded the metadata of every record it walked: the garbage collector's work ruled a 1M-record
 * find (bench/NOTES.md, "Find at scale").
 */
function prefilter(query: CountQuery & Pick<Partial<FindQuery>, "states">) {
  const needles: string[] = [];
  for (const [, value] of query.metadata ?? [])
    if (typeof value === "string") needles.push(encodeJson(value));
  return (frozen: FrozenRecord): boolean => {
    if (query.states && !query.states.includes(frozen.status)) return false;
    if (query.name !== undefined && frozen.name !== query.name) return false;
    const metadata = frozen.metadataJson ?? "";
    return needles.every((needle) => metadata.includes(needle));
  };
}

interface Counter {
  value: number;
  expiresAt: Date | null;
}

export class MemoryBackend implements ResultBackend {
  readonly name = "memory";
  readonly capabilities: BackendCapabilities;
  // Records are kept as Celery JSON, as a database keeps them: what comes back out is what the
  // codec can carry, and no caller can mutate a stored record through a shared reference.
  private readonly tasks = new Map<string, FrozenRecord>();
  private readonly groups = new Map<string, GroupRecord>();
  private readonly counters = new Map<string, Counter>();
  private readonly sets = new Map<string, { members: Set<string>; expiresAt: Date | null }>();
  /** The write that last changed each task: a retry of it is recognised, not refused. */
  private readonly lastWrite = new Map<string, string>();
  /** Every task's place in `find`'s order. */
  private readonly positions = new PositionIndex<FrozenRecord>(
    (entry: IndexEntry<FrozenRecord>) => this.tasks.get(entry.taskId)?.seq === entry.seq,
    () => this.tasks.size,
  );

  constructor(options: MemoryBackendOptions = {}) {
    this.capabilities = {
      nativeExpiry: false,
      maxRecordBytes: options.maxRecordBytes ?? 16 * 1024 * 1024,
    };
  }

  // No await between reading and writing: JavaScript runs this atomically, as a server would.
  async write(write: TaskWrite): Promise<WriteOutcome> {
    if (write.writeId && this.lastWrite.get(write.taskId) === write.writeId) {
      return { applied: true }; // this very call landed before; its answer was lost
    }
    const frozen = this.tasks.get(write.taskId);
    // The state rules first, on the frozen record: a refused write decodes nothing.
    const live = frozen && !(frozen.expiresAt !== null && frozen.expiresAt <= Date.now());
    if (live && !canTransition(frozen.status, write.status)) return { applied: false };
    const next = applyWrite(thaw(frozen, false), write);
    if (!next) return { applied: false };
    if (frozen)
      assertRecordFits(this.name, next, write.resultJson, this.capabilities.maxRecordBytes);
    if (write.writeId) this.lastWrite.set(write.taskId, write.writeId);
    else this.lastWrite.delete(write.taskId);
    const stored = freeze(next, write.resultJson);
    const previous = frozen && { seq: frozen.seq, time: timeOf(frozen) };
    stored.seq = this.positions.place(write.taskId, timeOf(stored), stored, previous);
    this.tasks.set(write.taskId, stored);
    return { applied: true };
  }

  /** A walk of the position index from where `query` starts, stopping where it ends. */
  async find(query: FindQuery): Promise<TaskRecord[]> {
    const found: TaskRecord[] = [];
    const asOf = query.asOf.getTime();
    const after = query.after?.getTime() ?? Number.NEGATIVE_INFINITY;
    const before = query.before?.getTime() ?? Number.POSITIVE_INFINITY;
    const oldest = query.order === "oldest";
    const mayMatch = prefilter(query);
    const step = oldest ? 1 : -1;
    for (let i = this.startOf(query); found.length < query.limit; i += step) {
      const entry = this.positions.at(i);
      if (!entry) break;
      if (oldest ? entry.time > asOf || entry.time >= before : entry.time < after) break;
      // A live entry's record is the current version: most records are ruled out on it, without
      // the lookup (a cache miss in a large Map) that tells a live entry from a dead one.
      if (!mayMatch(entry.record)) continue;
      const frozen = this.tasks.get(entry.taskId);
      if (frozen?.seq !== entry.seq) continue; // a dead entry: the record moved or is gone
      if (matchesFindQuery(listedFields(frozen), query)) found.push(thaw(frozen) as TaskRecord);
    }
    return found;
  }

  /** The index `find` walks from: past the previous page and the time range's near end. */
  private startOf(query: FindQuery): number {
    const { positions } = this;
    const last = query.startAfter && {
      time: query.startAfter.time?.getTime() ?? Number.NEGATIVE_INFINITY,
      taskId: query.startAfter.taskId,
    };
    if (query.order === "oldest") {
      return Math.max(
        last ? positions.upperBound(last.time, last.taskId) : 0,
        query.after ? positions.firstAtOrAfter(query.after.getTime()) : 0,
      );
    }
    return Math.min(
      last ? positions.lowerBound(last.time, last.taskId) - 1 : Number.POSITIVE_INFINITY,
      positions.firstAfter(query.asOf.getTime()) - 1,
      query.before
        ? positions.firstAtOrAfter(query.before.getTime()) - 1
        : Number.POSITIVE_INFINITY,
    );
  }

  /** One pass over every record. */
  async countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    const counts: Record<TaskState, number> = {};
    const mayMatch = prefilter(query);
    for (const frozen of this.tasks.values()) {
      if (mayMatch(frozen) && matchesCountQuery(listedFields(frozen), query))
        counts[frozen.status] = (counts[frozen.status] ?? 0) + 1;
    }
    return counts;
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    return thaw(this.tasks.get(taskId));
  }

  /** All in one call: one promise for the batch instead of one per id. */
  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    return taskIds.map((taskId) => thaw(this.tasks.get(taskId)));
  }

  async remove(taskId: string): Promise<void> {
    if (this.tasks.delete(taskId)) this.positions.died();
    this.lastWrite.delete(taskId);
  }

  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const current = this.counters.get(key);
    const base = current && !isExpired(current) ? current.value : 0;
    this.counters.set(key, { value: base + by, expiresAt });
    return base + by;
  }

  async removeCounter(key: string): Promise<void> {
    this.counters.delete(key);
  }

  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    const current = this.sets.get(key);
    const members = current && !isExpired(current) ? current.members : new Set<string>();
    members.add(member);
    this.sets.set(key, { members, expiresAt });
    return members.size;
  }

  /** Stores the group in this process's memory. */
  async saveGroup(group: GroupRecord): Promise<void> {
    this.groups.set(group.groupId, structuredClone(group));
  }

  /** The group from this process's memory, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const group = this.groups.get(groupId);
    return group ? structuredClone(group) : null;
  }

  /** Deletes the group from this process's memory. */
  async removeGroup(groupId: string): Promise<void> {
    this.groups.delete(groupId);
  }

  async cleanup(now: Date): Promise<number> {
    let removed = 0;
    const nowMs = now.getTime();
    for (const [taskId, frozen] of this.tasks) {
      if (frozen.expiresAt !== null && frozen.expiresAt <= nowMs) {
        this.tasks.delete(taskId);
        this.positions.died();
        this.lastWrite.delete(taskId);
        removed++;
      }
    }
    const maps = [this.groups, this.counters, this.sets] as Map<
      string,
      { expiresAt: Date | null }
    >[];
    for (const map of maps) {
      for (const [key, entry] of map) {
        if (isExpired(entry, now)) {
          map.delete(key);
          removed++;
        }
      }
    }
    return removed;
  }

  async close(): Promise<void> {}

  async destroy(): Promise<void> {
    this.tasks.clear();
    this.positions.clear();
    this.lastWrite.clear();
    this.groups.clear();
    this.counters.clear();
    this.sets.clear();
  }
}
