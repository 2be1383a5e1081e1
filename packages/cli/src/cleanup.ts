/** `resultstore cleanup --url URL`: deletes expired records, groups and counters; says how many. */
import { type Command, requireUrl } from "./command.js";
import type { CliIo } from "./io.js";
import { progressSink, startProgress } from "./progress.js";
import { displayUrl } from "./secrets.js";
import { openStore, type StoreChoice } from "./store.js";

/** What `cleanup --json` prints: one JSON object on stdout. */
export interface CleanupReport {
  url: string;
  removed: number;
  elapsedMs: number;
}

/**
 * Runs the backend's cleanup; resolves the count removed. The backend removes everything in one
 * call that returns only a count, so a terminal shows a spinner and the elapsed time while it
 * works (no per-record count is claimed), and the count at the end.
 */
export async function runCleanup(
  url: string,
  io: CliIo,
  choice: StoreChoice = {},
  options: { json?: boolean } = {},
): Promise<number> {
  const store = await openStore(url, choice);
  const where = displayUrl(url);
  if (!options.json) io.err(`cleaning up expired records in ${where}…`);
  const progress = startProgress(progressSink(io), { label: "cleanup" });
  try {
    const removed = await store.cleanup();
    const { elapsedMs } = progress.stop();
    if (options.json) {
      const report: CleanupReport = { url: where, removed, elapsedMs };
      io.out(JSON.stringify(report));
    } else {
      io.out(
        `removed ${removed} expired item${removed === 1 ? "" : "s"} from ${where} in ${(elapsedMs / 1000).toFixed(1)} s`,
      );
    }
    return removed;
  } finally {
    progress.stop();
    await store.close();
  }
}

/** `resultstore cleanup` */
export const cleanupCommand: Command = {
  name: "cleanup",
  summary: "delete expired task records, groups and counters, and print how many",
  usage: "resultstore cleanup --url URL [--json]",
  help: [
    "  --url URL        the store to clean (the backend's own expiry may already have done it)",
    '  --json           print {"url", "removed", "elapsedMs"} as one JSON line',
    "",
    "A record expires when the lifetime it was written with has passed. The programs that write",
    "set it with `expires`: seconds for every record, or a map by state, e.g.",
    "{ SUCCESS: 86400, FAILURE: 2592000, default: 604800 } keeps failures 30 days, successes one",
    "day and every other state, group and counter 7 days. Each record carries its own expiry, so",
    "cleanup needs no option for it: it deletes whatever is past its expiry, whatever the state.",
    "",
    "On a terminal, stderr shows the elapsed time while the backend works; piped, nothing but",
    "the closing line (or the JSON) is printed.",
  ],
  options: { url: { type: "string" }, json: { type: "boolean" } },
  async run(parsed, io) {
    await runCleanup(requireUrl(parsed, this), io, {}, { json: parsed.values.json === true });
    return 0;
  },
};
