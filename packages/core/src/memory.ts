/**
 * The embedded default (`memory://`) and the reference implementation of every rule: what each
 * database backend must reproduce on its server, atomically.
 */
import { decodeJson, encodeJson } from "./codec.js";
import { applyWrite, isExpired } from "./record.js";
import type {
  BackendCapabilities,
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

interface FrozenRecord {
  meta: string;
  resultJson: string;
}

function thaw(frozen: FrozenRecord | undefined): TaskRecord | null {
  if (!frozen) return null;
  return { ...(decodeJson(frozen.meta) as TaskRecord), result: decodeJson(frozen.resultJson) };
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
  /** The write that last changed each task: a retry of it is recognised, not refused. */
  private readonly lastWrite = new Map<string, string>();

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
    const next = applyWrite(thaw(this.tasks.get(write.taskId)), write);
    if (!next) return { applied: false };
    if (write.writeId) this.lastWrite.set(write.taskId, write.writeId);
    else this.lastWrite.delete(write.taskId);
    this.tasks.set(write.taskId, {
      meta: encodeJson({ ...next, result: null }),
      resultJson: write.resultJson,
    });
    return { applied: true };
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    return thaw(this.tasks.get(taskId));
  }

  async remove(taskId: string): Promise<void> {
    this.tasks.delete(taskId);
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
    for (const [taskId, frozen] of this.tasks) {
      if (isExpired(thaw(frozen) as TaskRecord, now)) {
        this.tasks.delete(taskId);
        this.lastWrite.delete(taskId);
        removed++;
      }
    }
    for (const map of [this.groups, this.counters] as Map<string, { expiresAt: Date | null }>[]) {
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
    this.lastWrite.clear();
    this.groups.clear();
    this.counters.clear();
  }
}
