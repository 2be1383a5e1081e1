/**
 * Can the suite fail? Each mutant breaks one rule in a copy of the memory backend; the suite, run
 * through its own runner, must turn the matching tests red. A suite that passes a mutant is a
 * suite that cannot catch that bug.
 */
import {
  type CountQuery,
  encodeJson,
  type FindQuery,
  type GroupRecord,
  MemoryBackend,
  ResultStore,
  type TaskRecord,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import { applyWrite } from "@resultstore/core/backend";
import { describe, expect, it } from "vitest";
import { createRunner, SUITE_GROUPS, type SuiteGroup } from "../src/index.js";

type Mutant = new () => MemoryBackend;

/** Replaces the stored record with `write` in one synchronous step: no state rules apply. */
function overwrite(backend: MemoryBackend, write: TaskWrite): Promise<WriteOutcome> {
  // MemoryBackend's remove and write run synchronously up to their end: called without awaiting
  // between them, nothing can interleave, so this is a blind overwrite.
  void backend.remove(write.taskId);
  return MemoryBackend.prototype.write.call(backend, write);
}

/** Overwrites blindly, like machinery's backends: the state rules are gone. */
class NoStateRules extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const stored = await this.read(write.taskId);
    return overwrite(this, { ...write, metadata: { ...stored?.metadata, ...write.metadata } });
  }
}

/** Only SUCCESS is final, as in Celery's KV backends: FAILURE can regress to STARTED. */
class OnlySuccessFinal extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const stored = await this.read(write.taskId);
    if (stored?.status === "SUCCESS") return { applied: false };
    return overwrite(this, { ...write, metadata: { ...stored?.metadata, ...write.metadata } });
  }
}

/** Replaces the document, as Celery's Mongo backend does: metadata from QUEUED is lost. */
class ReplacesRecord extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const stored = await this.read(write.taskId);
    if (!applyWrite(stored, write)) return { applied: false };
    return overwrite(this, write.metadata ? write : { ...write, metadata: {} });
  }
}

/** Read, then write after a pause: the check-then-act race of Celery's SUCCESS guard. */
class ReadThenWrite extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const stored = await this.read(write.taskId);
    if (stored && !applyWrite(stored, write)) return { applied: false };
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    return overwrite(this, { ...write, metadata: { ...stored?.metadata, ...write.metadata } });
  }
}

/** A counter that reads, yields, then writes: increments get lost under concurrency. */
class RacyCounter extends MemoryBackend {
  private values = new Map<string, number>();
  override async incr(key: string, by: number): Promise<number> {
    const value = this.values.get(key) ?? 0;
    await new Promise((r) => setTimeout(r, 1));
    this.values.set(key, value + by);
    return value + by;
  }
}

/** Never expires anything. */
class NoExpiry extends MemoryBackend {
  override async read(taskId: string): Promise<TaskRecord | null> {
    const record = await super.read(taskId);
    return record && { ...record, expiresAt: null };
  }
  override async readGroup(groupId: string): Promise<GroupRecord | null> {
    const group = await super.readGroup(groupId);
    return group && { ...group, expiresAt: null };
  }
  override async cleanup(): Promise<number> {
    return 0;
  }
}

/** Renews the expiry even when the rules refuse the write, like a TTL set outside the condition. */
class RefusedWriteRenewsExpiry extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const outcome = await super.write(write);
    const stored = await this.read(write.taskId);
    if (!outcome.applied && stored) {
      const resultJson = encodeJson(stored.result);
      await overwrite(this, { ...stored, resultJson, expiresAt: write.expiresAt });
    }
    return outcome;
  }
}

/** Forgets nothing. */
class ForgetIsNoop extends MemoryBackend {
  override async remove(): Promise<void> {}
}

/** A set that reads, yields, then writes: concurrent adds get lost, so a chord never completes. */
class RacySet extends MemoryBackend {
  private racySets = new Map<string, Set<string>>();
  override async addToSet(key: string, member: string): Promise<number> {
    const members = new Set(this.racySets.get(key));
    await new Promise((r) => setTimeout(r, 1));
    members.add(member);
    this.racySets.set(key, members);
    return members.size;
  }
}

/** A "set" that counts every add, as a counter would: a redelivered member counts twice. */
class SetCountsDuplicates extends MemoryBackend {
  private counts = new Map<string, number>();
  override async addToSet(key: string): Promise<number> {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n;
  }
}

/**
 * Remembers the record it last read or wrote and merges the next write into it, handing out and
 * keeping the very objects callers hold (as a version cache that copies one level does).
 */
class SharesObjects extends MemoryBackend {
  private readonly known = new Map<string, TaskRecord>();
  override async read(taskId: string): Promise<TaskRecord | null> {
    const record = await super.read(taskId);
    if (record) this.known.set(taskId, { ...record });
    return record && { ...record, metadata: this.known.get(taskId)?.metadata ?? {} };
  }
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const next = applyWrite(
      this.known.get(write.taskId) ?? (await super.read(write.taskId)),
      write,
    );
    if (!next) return { applied: false };
    this.known.set(write.taskId, next);
    return overwrite(this, { ...write, ...next, resultJson: write.resultJson });
  }
}

/** Lists records whose expiry has passed, as a query that forgets the expiry condition. */
class FindShowsExpired extends MemoryBackend {
  override find(query: FindQuery): Promise<TaskRecord[]> {
    return super.find({ ...query, now: new Date(0) });
  }
}

/** Resumes after the last page's time, not its (time, task id): records sharing a millisecond are lost. */
class FindResumesByTimeOnly extends MemoryBackend {
  override find(query: FindQuery): Promise<TaskRecord[]> {
    const last = query.startAfter;
    const past = query.order === "oldest" ? "\u{10FFFF}" : "";
    return super.find(last ? { ...query, startAfter: { ...last, taskId: past } } : query);
  }
}

/** Compares metadata as text, as a query on a stringified field would: 42 matches "42". */
class FindLooseMetadata extends MemoryBackend {
  override async find(query: FindQuery): Promise<TaskRecord[]> {
    const { metadata = [], limit, ...rest } = query;
    const all = await super.find({ ...rest, limit: Number.MAX_SAFE_INTEGER });
    const loose = all.filter((r) =>
      metadata.every(([k, v]) => String(r.metadata[k]) === String(v)),
    );
    return loose.slice(0, limit);
  }
}

/** No snapshot: later pages list records written after paging began. */
class FindWithoutSnapshot extends MemoryBackend {
  override find(query: FindQuery): Promise<TaskRecord[]> {
    return super.find({ ...query, asOf: new Date(8.64e15) });
  }
}

/** Counts without the filter. */
class CountIgnoresFilter extends MemoryBackend {
  override countByState(query: CountQuery): Promise<Record<string, number>> {
    return super.countByState({ now: query.now });
  }
}

async function failuresOf(Backend: Mutant, groups: SuiteGroup[]): Promise<string[]> {
  const runner = createRunner(20_000);
  const options = {
    name: "mutant",
    createStore: async (o?: object) => new ResultStore(new Backend(), o),
    readRaw: async (store: ResultStore, taskId: string) => {
      const r = await store.backend.read(taskId);
      return r && { status: r.status, metadata: r.metadata, expiresAt: r.expiresAt };
    },
    raceRounds: 3,
  };
  for (const group of groups) SUITE_GROUPS[group](runner, options);
  const results = await runner.run();
  return results.filter((r) => !r.ok).map((r) => r.name);
}

describe("the suite catches broken backends", () => {
  const cases: [string, Mutant, SuiteGroup[], RegExp][] = [
    ["no state rules", NoStateRules, ["stateRules"], /stored SUCCESS/],
    ["no state rules (races)", NoStateRules, ["races"], /SUCCESS is never lost/],
    ["only SUCCESS final", OnlySuccessFinal, ["stateRules"], /stored FAILURE/],
    ["only SUCCESS final (races)", OnlySuccessFinal, ["races"], /the failure stays/],
    [
      "replace instead of merge",
      ReplacesRecord,
      ["metadata"],
      /survives STARTED, RETRY and SUCCESS/,
    ],
    ["read-then-write guard", ReadThenWrite, ["races"], /SUCCESS is never lost/],
    ["racy counter", RacyCounter, ["counters"], /concurrent increments/],
    ["racy set (chords)", RacySet, ["chords"], /exactly once/],
    ["racy set", RacySet, ["counters"], /each member once/],
    ["no expiry", NoExpiry, ["expiry"], /hidden on read/],
    [
      "refused write renews the expiry",
      RefusedWriteRenewsExpiry,
      ["retention"],
      /refused write keeps the stored state's expiry/,
    ],
    ["forget does nothing", ForgetIsNoop, ["reads"], /forget deletes/],
    ["a cache that shares objects with callers", SharesObjects, ["isolation"], /never written/],
    ["a set that counts duplicates", SetCountsDuplicates, ["chords"], /fires exactly once/],
    ["find lists expired records", FindShowsExpired, ["find"], /expired records are never/],
    [
      "find resumes by time only",
      FindResumesByTimeOnly,
      ["find"],
      /same millisecond are ordered by task id/,
    ],
    ["find compares metadata as text", FindLooseMetadata, ["find"], /each filter/],
    ["find without a snapshot", FindWithoutSnapshot, ["find"], /never returns a record twice/],
    ["countByState ignores the filter", CountIgnoresFilter, ["find"], /countByState agrees/],
  ];
  for (const [label, Backend, groups, expected] of cases) {
    it(`${label}: ${expected.source} goes red`, async () => {
      const failures = await failuresOf(Backend, groups);
      expect(
        failures.some((name) => expected.test(name)),
        failures.join("\n"),
      ).toBe(true);
    }, 60_000);
  }

  it("the unbroken memory backend passes the same groups", async () => {
    const groups = [...new Set(cases.flatMap(([, , g]) => g))];
    expect(await failuresOf(MemoryBackend, groups)).toEqual([]);
  }, 60_000);
});

describe("the find group on a backend without find", () => {
  it("skips each test, saying why, in the suite's own runner", async () => {
    const runner = createRunner(20_000);
    const bare = () => {
      const backend = new MemoryBackend();
      Object.assign(backend, { find: undefined, countByState: undefined });
      return backend;
    };
    SUITE_GROUPS.find(runner, {
      name: "bare",
      createStore: async (o?: object) => new ResultStore(bare(), o),
    });
    const results = await runner.run();
    expect(results.length).toBeGreaterThan(5);
    for (const result of results) {
      expect(result.ok).toBe(true);
      expect(result.skipped).toBe("memory does not implement find and countByState yet");
    }
  });
});
