/** The minimal test API the suite registers into: Vitest's, or the CLI's own runner. */
import type { ResultStore, ResultStoreOptions } from "@resultstore/core";

/**
 * What a runner passes a test body: Vitest's test context, or the suite's own runner's. `skip`
 * marks the test skipped with a note (it throws, so nothing after it runs); jest passes nothing.
 */
export interface TestContext {
  /** Stops the test here and reports it skipped, with `note` as the reason. */
  skip?(note?: string): void;
}

/** A test or hook body; may be async. */
export type TestBody = (context?: TestContext) => Promise<void> | void;

/** The test runner the suite registers with: vitest's or jest's functions, or {@link createRunner}'s. */
export interface TestApi {
  /** Groups the tests `body` registers under `name`. */
  describe(name: string, body: () => void): void;
  /** Registers one test. */
  it(name: string, body: TestBody, timeoutMs?: number): void;
  /** Runs `body` once before the group's tests. */
  beforeAll(body: TestBody, timeoutMs?: number): void;
  /** Runs `body` once after the group's tests. */
  afterAll(body: TestBody, timeoutMs?: number): void;
}

/** What the database itself holds for a task, read around the store (raw read-back hook). */
export interface RawRecord {
  status: string;
  metadata: Record<string, unknown>;
  /** The expiry the database will act on (TTL attribute, session, index), if any. */
  expiresAt: Date | null;
}

/** The names of the suite's groups, for `optOut`. */
export type SuiteGroup =
  | "states"
  | "results"
  | "metadata"
  | "stateRules"
  | "races"
  | "counters"
  | "chords"
  | "groups"
  | "reads"
  | "waiting"
  | "expiry"
  | "retention"
  | "badInput"
  | "lifecycle"
  | "isolation"
  | "find";

/** How the suite reaches the backend under test, and what it may skip (with a reason). */
export interface ConformanceOptions {
  /** Shown in test titles, e.g. "mongodb". */
  name: string;
  /**
   * A fresh store in its own namespace (collection, table, index, prefix…). Called once per
   * group and by tests that need special options (short `expires`).
   */
  createStore(options?: ResultStoreOptions): Promise<ResultStore>;
  /**
   * Another store on `store`'s namespace with its own client and caches, as another process would
   * open it (default store options). Tests of several processes writing one record use it; a
   * backend without it gets `store` itself there, which tests less (one process's caches and
   * batching).
   */
  createPeer?(store: ResultStore): Promise<ResultStore>;
  /** Reads what the database holds for `taskId` without going through the store's read path. */
  readRaw?(store: ResultStore, taskId: string): Promise<RawRecord | null>;
  /**
   * Opt in where the backend refuses, with `ValueTooLargeError` and nothing changed, a write whose
   * record outgrows `maxRecordBytes` through metadata merged from earlier writes (it merges
   * itself and measures, or its database refuses past a limit just above `maxRecordBytes`).
   * Off where the engine cannot know (a server that merges without a size limit).
   */
  refusesOversizedMerge?: boolean;
  /**
   * Opt in where a write sent again after it landed (same `writeId`: a transport retry whose first
   * answer was lost) answers `applied: true`: the backend stores the write id beside the record
   * and checks it when the rules refuse. Off where it cannot (see the backend's README).
   */
  recognisesRetriedWrites?: boolean;
  /** Groups this backend opts out of, each with the database limit that forces it. */
  optOut?: Partial<Record<SuiteGroup, string>>;
  /** Shortest expiry (seconds) the backend honours exactly; expiry tests wait this long. @default 1 */
  minExpirySeconds?: number;
  /** Concurrent writers/incrementers in race tests. @default 32 */
  concurrency?: number;
  /** Rounds of the race test. @default 5 */
  raceRounds?: number;
  /** Per-test timeout. @default 60000 */
  timeoutMs?: number;
}
