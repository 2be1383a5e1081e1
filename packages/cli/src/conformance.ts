/**
 * `resultstore conformance --url URL`: the suite against a user's own server, in a namespace of
 * its own. A failing server fails tests, never the run: every test is reported, the closing line
 * is `N passed, M failed`, and every store the run created is dropped at the end.
 */
import { randomUUID } from "node:crypto";
import {
  ConfigurationError,
  createStore,
  type ResultStore,
  type ResultStoreOptions,
} from "@resultstore/core";
import { type Command, requireUrl } from "./command.js";
import { describeError } from "./hints.js";
import { type ProgressSink, progressSink, startProgress } from "./progress.js";
import { displayUrl } from "./secrets.js";
import { dropAndClose, type StoreChoice } from "./store.js";

/** What `conformance --json` prints: one JSON object. */
export interface ConformanceReport {
  url: string;
  namespace: string;
  passed: number;
  failed: number;
  /** Tests that skipped themselves (a part of the suite the backend does not implement yet). */
  skipped: number;
  /** Every namespace the run used was dropped. */
  dropped: boolean;
  /** Backend calls no test awaited that failed later. */
  strayRejections: number;
  tests: { name: string; ok: boolean; ms: number; skipped?: string; error?: string }[];
}

/** How `runConformance` reports besides its lines. */
export interface ConformanceOutput {
  /** Print one JSON {@link ConformanceReport} instead of a line per test. */
  json?: boolean;
  /** Where a progress line (tests done, rate, elapsed, the last test) is drawn. */
  progress?: ProgressSink;
}

/** Runs the suite; resolves true when every test passed and the namespace was dropped. */
export async function runConformance(
  url: string,
  print: (line: string) => void = console.log,
  choice: StoreChoice = {},
  output: ConformanceOutput = {},
): Promise<boolean> {
  const lines = output.json ? () => {} : print;
  const { createRunner, runConformanceSuite } = await importConformance();
  const namespace = `conformance_${randomUUID().slice(0, 8)}`;
  const runner = createRunner(120_000);
  const stores: { store: ResultStore; namespace: string }[] = [];
  const open = (storeNamespace: string, options: ResultStoreOptions = {}) =>
    createStore({
      url,
      ...options,
      ...(choice.backends && { backends: choice.backends }),
      backendOptions: { namespace: storeNamespace },
    });
  runConformanceSuite(runner, {
    name: displayUrl(url),
    // Every store of the run shares one namespace prefix, so the user can find what is left.
    createStore: async (options?: ResultStoreOptions) => {
      const storeNamespace = `${namespace}_${randomUUID().slice(0, 4)}`;
      const store = await open(storeNamespace, options);
      stores.push({ store, namespace: storeNamespace });
      return store;
    },
  });
  lines(`running the conformance suite against ${displayUrl(url)} (namespace ${namespace}*)`);
  const progress = startProgress(output.progress ?? { isTTY: false, write: () => {} }, {
    label: "conformance",
    unit: "tests",
  });

  // A backend call no test awaited (a dead server's late rejection) must not end the process.
  const stray: unknown[] = [];
  const onStray = (reason: unknown) => stray.push(reason);
  process.on("unhandledRejection", onStray);
  let results: Awaited<ReturnType<typeof runner.run>>;
  try {
    results = await runner.run((result, index, total) => {
      progress.setTotal(total);
      progress.tick();
      progress.status(result.name);
      progress.above(() => {
        const mark = result.skipped ? "skip" : result.ok ? "ok  " : "FAIL";
        const note = result.skipped ? `: ${result.skipped}` : ` (${result.ms} ms)`;
        lines(`[${String(index).padStart(3)}/${total}] ${mark} ${result.name}${note}`);
        if (!result.ok) {
          for (const line of describeError(result.error, url)) lines(`       ${line}`);
        }
      });
    });
  } finally {
    progress.stop();
    process.off("unhandledRejection", onStray);
  }

  const dropFailures = await dropAll(stores, (storeNamespace) => open(storeNamespace));
  if (dropFailures.length) {
    lines(`could not drop ${dropFailures.length} of the run's stores; the first:`);
    for (const line of describeError(dropFailures[0], url)) lines(`       ${line}`);
  }
  if (stray.length) {
    lines(`${stray.length} rejection${stray.length === 1 ? "" : "s"} no test awaited; the first:`);
    for (const line of describeError(stray[0], url)) lines(`       ${line}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  const skipped = results.filter((r) => r.skipped).length;
  lines(
    dropFailures.length
      ? `namespace ${namespace}* NOT fully dropped (see above)`
      : `namespace ${namespace}* dropped (${stores.length} stores)`,
  );
  lines("");
  lines(
    `${results.length - failed - skipped} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`,
  );
  if (output.json) {
    const report: ConformanceReport = {
      url: displayUrl(url),
      namespace,
      passed: results.length - failed - skipped,
      failed,
      skipped,
      dropped: dropFailures.length === 0,
      strayRejections: stray.length,
      tests: results.map((r) => ({
        name: r.name,
        ok: r.ok,
        ms: r.ms,
        ...(r.skipped && { skipped: r.skipped }),
        ...(!r.ok && { error: describeError(r.error, url).join("\n") }),
      })),
    };
    print(JSON.stringify(report));
  }
  return failed === 0 && dropFailures.length === 0 && stray.length === 0;
}

/**
 * Drops every namespace the run used. A store still open is dropped and closed; one the suite
 * closed (after dropping it, or unused) is opened again on its namespace and dropped, which is a
 * no-op where nothing is left: every backend's drop ignores what does not exist.
 */
async function dropAll(
  stores: readonly { store: ResultStore; namespace: string }[],
  reopen: (namespace: string) => Promise<ResultStore>,
): Promise<unknown[]> {
  const outcomes = await Promise.allSettled(
    stores.map(async ({ store, namespace }) =>
      dropAndClose(store.isClosed ? await reopen(namespace) : store),
    ),
  );
  return outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
}

/** The suite is an optional peer: only this command needs it. */
async function importConformance(): Promise<typeof import("@resultstore/conformance")> {
  try {
    return await import("@resultstore/conformance");
  } catch (cause) {
    throw new ConfigurationError(
      "cli",
      '`resultstore conformance` needs the module "@resultstore/conformance", which is not ' +
        "installed: npm install @resultstore/conformance",
      { cause },
    );
  }
}

/** `resultstore conformance` */
export const conformanceCommand: Command = {
  name: "conformance",
  summary: "run the conformance suite against your server, in a namespace it drops afterwards",
  usage: "resultstore conformance --url URL [--json]",
  help: [
    "  --url URL        your server; the suite works in conformance_<random>* and drops it",
    "  --json           print one JSON object: passed, failed, dropped, and every test's",
    "                   name, ok, ms and error",
    "",
    "Prints one line per test and ends with `N passed, M failed`; exit code 1 when anything",
    "failed. On a terminal, stderr shows tests done, their rate, the elapsed time and the last",
    "test. Needs @resultstore/conformance installed beside the CLI.",
  ],
  options: { url: { type: "string" }, json: { type: "boolean" } },
  async run(parsed, io) {
    const ok = await runConformance(requireUrl(parsed, this), io.out, undefined, {
      json: parsed.values.json === true,
      progress: progressSink(io),
    });
    return ok ? 0 : 1;
  },
};
