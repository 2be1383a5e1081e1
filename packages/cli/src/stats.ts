/** `resultstore stats --url URL [--name …] [--meta k=v]… [--since AGE] [--json]`: tasks counted by state. */
import type { TaskFilter } from "@resultstore/core";
import { asUsageError, type Command, requireUrl, URL_HELP } from "./command.js";
import { filterHelp, filterOptions, parseFilter } from "./filters.js";
import type { CliIo } from "./io.js";
import { displayUrl } from "./secrets.js";
import { isMemoryUrl, MEMORY_NOTE, openStore, type StoreChoice } from "./store.js";
import { renderTable } from "./table.js";

/** What `stats --json` prints: one JSON object on stdout. */
export interface StatsReport {
  url: string;
  /** Every known state (0 included), then any custom state found. */
  counts: Record<string, number>;
  total: number;
}

/** Counts the tasks `filter` selects by state and prints them; resolves the report. */
export async function runStats(
  url: string,
  io: CliIo,
  options: StoreChoice & { filter?: Omit<TaskFilter, "state">; json?: boolean } = {},
): Promise<StatsReport> {
  const store = await openStore(url, options);
  try {
    if (isMemoryUrl(url)) io.err(MEMORY_NOTE);
    const counts = await store.countByState(options.filter).catch(asUsageError(statsCommand));
    const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
    const report: StatsReport = { url: displayUrl(url), counts, total };
    if (options.json) io.out(JSON.stringify(report));
    else {
      const rows = Object.entries(counts).map(([state, n]) => [state, String(n)]);
      io.out(renderTable(["state", "tasks"], [...rows, ["total", String(total)]]));
    }
    return report;
  } finally {
    await store.close();
  }
}

/** `resultstore stats` */
export const statsCommand: Command = {
  name: "stats",
  summary: "count tasks by state (expired ones are not counted)",
  usage:
    "resultstore stats --url URL [--name NAME] [--meta KEY=VALUE]… [--since AGE | --after TIME] [--json]",
  help: [
    URL_HELP,
    ...filterHelp(false),
    '  --json           print {"url", "counts", "total"} as one JSON line',
    "",
    "Every state Celery and resultstore name is listed, 0 included, then any custom state found.",
  ],
  options: { url: { type: "string" }, ...filterOptions(false), json: { type: "boolean" } },
  async run(parsed, io) {
    await runStats(requireUrl(parsed, this), io, {
      filter: parseFilter(parsed, this),
      json: parsed.values.json === true,
    });
    return 0;
  },
};
