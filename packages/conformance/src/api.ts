/** The minimal test API the suite registers into: Vitest's, or the CLI's own runner. */
import type { ResultStore, ResultStoreOptions } from "@resultstore/core";

export type TestBody = () => Promise<void> | void;

export interface TestApi {
  describe(name: string, body: () => void): void;
  it(name: string, body: TestBody, timeoutMs?: number): void;
  beforeAll(body: TestBody, timeoutMs?: number): void;
  afterAll(body: TestBody, timeoutMs?: number): void;
}

/** What the database itself holds for a task, read around the store (raw read-back hook). */
export interface RawRecord {
  status: string;
  metadata: Record<string, unknown>;
  /** The expiry the database will act on (TTL attribute, session, index), if any. */
  expiresAt: Date | null;
}

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
  | "badInput"
  | "lifecycle";

export interface ConformanceOptions {
  /** Shown in test titles, e.g. "mongodb". */
  name: string;
  /**
   * A fresh store in its own namespace (collection, table, index, prefix…). Called once per
   * group and by tests that need special options (short `expires`).
   */
  createStore(options?: ResultStoreOptions): Promise<ResultStore>;
  /** Reads what the database holds for `taskId` without going through the store's read path. */
  readRaw?(store: ResultStore, taskId: string): Promise<RawRecord | null>;
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
