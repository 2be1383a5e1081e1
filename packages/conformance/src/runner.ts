/**
 * A small runner for the suite outside Vitest: `resultstore conformance --url …` and the suite's
 * own "can these checks fail?" tests use it. Runs tests in registration order, one at a time.
 */
import type { TestApi, TestBody, TestContext } from "./api.js";

interface Block {
  name: string;
  tests: { name: string; body: TestBody; timeoutMs: number }[];
  before: TestBody[];
  after: TestBody[];
  children: Block[];
}

/** One test's outcome in a {@link Runner} run. */
export interface TestResult {
  name: string;
  /** True for a passed or skipped test. */
  ok: boolean;
  /** Set when the test skipped itself (`context.skip(note)`): the note. */
  skipped?: string;
  error?: unknown;
  ms: number;
}

/** A {@link TestApi} that runs without a test framework (what `resultstore conformance` uses). */
export interface Runner extends TestApi {
  /** Runs every registered test in order; `onResult` sees each result as it lands. */
  run(onResult?: (result: TestResult, index: number, total: number) => void): Promise<TestResult[]>;
}

/** A minimal in-process test runner: tests run in order, a failed `beforeAll` fails its group's tests, `afterAll` always runs. */
export function createRunner(defaultTimeoutMs = 60_000): Runner {
  const root: Block = { name: "", tests: [], before: [], after: [], children: [] };
  let current = root;
  const count = (b: Block): number => b.tests.length + b.children.reduce((n, c) => n + count(c), 0);

  const runBlock = async (
    block: Block,
    path: string[],
    results: TestResult[],
    report: (r: TestResult) => void,
  ) => {
    const names = block.name ? [...path, block.name] : path;
    let setupError: unknown;
    for (const hook of block.before) {
      try {
        await hook();
      } catch (error) {
        setupError = error;
        break;
      }
    }
    for (const test of block.tests) {
      const started = Date.now();
      const name = [...names, test.name].join(" > ");
      let result: TestResult;
      if (setupError) {
        result = { name, ok: false, error: setupError, ms: 0 };
      } else {
        try {
          await withTimeout(() => test.body(SKIPPABLE), test.timeoutMs);
          result = { name, ok: true, ms: Date.now() - started };
        } catch (error) {
          const ms = Date.now() - started;
          result =
            error instanceof Skipped
              ? { name, ok: true, skipped: error.message, ms }
              : { name, ok: false, error, ms };
        }
      }
      results.push(result);
      report(result);
    }
    for (const child of block.children) await runBlock(child, names, results, report);
    for (const hook of block.after)
      await Promise.resolve()
        .then(() => hook())
        .catch(() => {});
  };

  return {
    describe(name, body) {
      const block: Block = { name, tests: [], before: [], after: [], children: [] };
      current.children.push(block);
      const parent = current;
      current = block;
      body();
      current = parent;
    },
    it(name, body, timeoutMs = defaultTimeoutMs) {
      current.tests.push({ name, body, timeoutMs });
    },
    beforeAll(body) {
      current.before.push(body);
    },
    afterAll(body) {
      current.after.push(body);
    },
    async run(onResult) {
      const results: TestResult[] = [];
      const total = count(root);
      await runBlock(root, [], results, (r) => onResult?.(r, results.length, total));
      return results;
    },
  };
}

/** What `context.skip(note)` throws: the test stops there and is reported skipped. */
class Skipped extends Error {}

/** The context every test body gets from this runner. */
const SKIPPABLE: TestContext = {
  skip(note = "skipped") {
    throw new Skipped(note);
  },
};

async function withTimeout(body: TestBody, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(() => body()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
