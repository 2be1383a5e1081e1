/**
 * The workload and the checker together: clients sharing one memory backend for a moment pass,
 * and the same clients sharing a backend that breaks one rule (a mutant) are caught by the
 * checker under the matching kind. This is the proof proving itself, without a server.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  MemoryBackend,
  type ResultBackend,
  ResultStore,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import { isExpired } from "@resultstore/core/backend";
import { describe, expect, it } from "vitest";
import { check, type ViolationKind } from "../src/checker.js";
import { readFinalState } from "../src/final.js";
import { parseHistory } from "../src/history.js";
import { Worker } from "../src/worker.js";

/** Bursts on the expiring counters come every expires + 2.5 s: a run of 3.8 s sees at least one. */
const COUNTER_EXPIRES_MS = 1200;
const TASK_EXPIRES_MS = 1000;
const tick = () => new Promise((r) => setTimeout(r, 1));

/** `chordProcesses`: as the runner sets it for a mixed fleet (the last processes are Python). */
async function runInProcess(backend: ResultBackend, ms = 3800, chordProcesses?: number) {
  const dir = mkdtempSync(join(tmpdir(), "proof-test-"));
  const processes = 3;
  const deadline = Date.now() + ms;
  const files: string[] = [];
  await Promise.all(
    Array.from({ length: processes }, (_, p) => {
      const historyFile = join(dir, `p${p}.jsonl`);
      files.push(historyFile);
      const config = {
        connection: { url: "memory://", namespace: "t" },
        p,
        processes,
        deadline,
        historyFile,
        alwaysRetry: false,
        counterExpiresMs: COUNTER_EXPIRES_MS,
        taskExpiresMs: TASK_EXPIRES_MS,
        secrets: [],
        callTimeoutMs: 5000,
        ...(chordProcesses === undefined ? {} : { chordProcesses }),
      };
      const store = new ResultStore(backend);
      const expiring = new ResultStore(backend, { expires: COUNTER_EXPIRES_MS / 1000 });
      const expiringTasks = new ResultStore(backend, { expires: TASK_EXPIRES_MS / 1000 });
      return new Worker(config, store, expiring, expiringTasks).run();
    }),
  );
  const events = files.flatMap((f) => parseHistory(readFileSync(f, "utf8")));
  const run = {
    type: "run" as const,
    backend: "mutant",
    url: "memory://",
    secrets: [],
    processes,
    seconds: ms / 1000,
    faults: [],
    counterExpiresMs: COUNTER_EXPIRES_MS,
    taskExpiresMs: TASK_EXPIRES_MS,
    start: 0,
  };
  const final = await readFinalState(backend, events);
  return Object.assign(check([run, ...events, final]), { events });
}

/** Overwrites blindly (metadata merged): a late STARTED replaces SUCCESS. */
class NoStateRules extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const stored = await this.read(write.taskId);
    await tick();
    await this.remove(write.taskId);
    return super.write({ ...write, metadata: { ...stored?.metadata, ...write.metadata } });
  }
}

/** Replaces the metadata instead of merging it. */
class ReplacesMetadata extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const stored = await this.read(write.taskId);
    if (stored) {
      const bare = { ...write, metadata: write.metadata ?? {} };
      const outcome = await super.write({ ...bare, metadata: {} });
      if (!outcome.applied) return outcome;
      await this.remove(write.taskId);
      return super.write(bare);
    }
    return super.write(write);
  }
}

/** Restarts an expired counter by replacing it after a separate read, as Cosmos's 412 branch. */
class RacyCounterRestart extends MemoryBackend {
  private readonly values = new Map<string, { value: number; expiresAt: Date | null }>();
  override async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const current = this.values.get(key);
    if (current && !isExpired(current)) {
      current.value += by;
      current.expiresAt = expiresAt;
      return current.value;
    }
    await tick(); // the read and the replace are two requests
    this.values.set(key, { value: by, expiresAt });
    return by;
  }
}

/** Reads, then writes the counter: concurrent increments are lost. */
class NonAtomicIncr extends MemoryBackend {
  override async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    const value = (await super.incr(key, 0, expiresAt)) + by;
    await new Promise((r) => setTimeout(r, 5)); // a wide window: the race must show every time
    await super.removeCounter(key);
    return super.incr(key, value, expiresAt);
  }
}

describe("the workload against the memory backend", () => {
  it("holds every rule", async () => {
    const report = await runInProcess(new MemoryBackend());
    expect(report.examples).toEqual([]);
    expect(report.ops).toBeGreaterThan(100);
    expect(report.indeterminate).toBe(0);
  });

  it("fires every chord once when only the first processes deliver them (a mixed fleet)", async () => {
    const report = await runInProcess(new MemoryBackend(), 3800, 2);
    expect(report.examples).toEqual([]);
    const chords = report.events.filter((e) => e.type === "chord");
    expect(new Set(chords.map((e) => e.p))).toEqual(new Set([0, 1]));
    expect(chords.every((e) => e.size === 4)).toBe(true);
    expect(chords.some((e) => e.fired)).toBe(true);
  });

  const mutants: [string, () => ResultBackend, ViolationKind[]][] = [
    [
      "no state rules",
      () => new NoStateRules(),
      ["success-changed", "ready-regressed", "acknowledged-write-lost"],
    ],
    ["metadata replaced", () => new ReplacesMetadata(), ["metadata-lost"]],
    ["racy counter restart", () => new RacyCounterRestart(), ["counter-duplicate"]],
    ["non-atomic incr", () => new NonAtomicIncr(), ["counter-duplicate", "counter-mismatch"]],
  ];
  for (const [name, make, expected] of mutants) {
    it(`catches a backend with ${name}`, async () => {
      // A race needs the scheduler's help: on a machine loaded enough to serialise the clients,
      // one short run may not interleave them. Up to three runs; one must catch the mutant.
      let found: string[] = [];
      let ops = 0;
      for (let run = 0; run < 3 && !expected.some((k) => found.includes(k)); run++) {
        const report = await runInProcess(make());
        found = Object.keys(report.byKind);
        ops += report.ops;
      }
      expect(
        expected.some((k) => found.includes(k)),
        `expected one of ${expected.join(", ")}; found ${found.join(", ") || "nothing"} in ${ops} calls`,
      ).toBe(true);
    }, 60_000);
  }
});
