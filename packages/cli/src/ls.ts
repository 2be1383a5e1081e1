/**
 * `resultstore ls --url URL [filters] [--limit N] [--order newest|oldest] [--cursor C] [--json]`:
 * one page of tasks as a table, or one JSON line per task; the next page's cursor on stderr.
 */
import {
  DEFAULT_FIND_LIMIT,
  type FindOptions,
  MAX_FIND_LIMIT,
  type TaskFilter,
  type TaskMeta,
} from "@resultstore/core";
import {
  asUsageError,
  type Command,
  intFlag,
  requireUrl,
  URL_HELP,
  UsageError,
} from "./command.js";
import { filterHelp, filterOptions, parseFilter } from "./filters.js";
import type { CliIo } from "./io.js";
import { isMemoryUrl, MEMORY_NOTE, openStore, type StoreChoice } from "./store.js";
import { brief, renderTable } from "./table.js";

/** What `ls` lists and how it prints. */
export interface LsOptions extends StoreChoice, FindOptions {
  filter?: TaskFilter;
  /** One JSON object per task (and no table). */
  json?: boolean;
}

/** Lists one page; resolves the tasks listed and the next page's cursor (null: none). */
export async function runLs(
  url: string,
  io: CliIo,
  options: LsOptions = {},
): Promise<{ tasks: TaskMeta[]; cursor: string | null }> {
  const { filter = {}, json = false, limit, order, cursor } = options;
  const store = await openStore(url, options);
  try {
    if (isMemoryUrl(url)) io.err(MEMORY_NOTE);
    const page = await store
      .find(filter, {
        ...(limit !== undefined && { limit }),
        ...(order && { order }),
        ...(cursor && { cursor }),
      })
      .catch(asUsageError(lsCommand));
    if (json) for (const task of page.tasks) io.out(JSON.stringify(task));
    else if (page.tasks.length === 0) io.out("no tasks match");
    else
      io.out(
        renderTable(["task", "state", "name", "updated", "result / metadata"], page.tasks.map(row)),
      );
    if (page.cursor) {
      // --since means "from now", which moves: the next page needs the time this one used.
      const after = filter.after ? ` --after ${filter.after.toISOString()}` : "";
      io.err(
        `more: add --cursor ${page.cursor}${after} (and the same other filters and order) for the next page`,
      );
    }
    return page;
  } finally {
    await store.close();
  }
}

function row(task: TaskMeta): string[] {
  const time = task.updatedAt ?? task.dateDone;
  const metadata = Object.keys(task.metadata).length > 0 ? `  ${brief(task.metadata, 30)}` : "";
  return [
    task.taskId,
    task.status,
    task.name ?? "",
    time ? time.toISOString().replace("T", " ").slice(0, 19) : "",
    `${brief(task.result, 30)}${metadata}`,
  ];
}

/** `resultstore ls` */
export const lsCommand: Command = {
  name: "ls",
  summary: "list tasks by state, name, metadata and time, most recently written first",
  usage:
    "resultstore ls --url URL [--state S,S] [--name NAME] [--meta KEY=VALUE]… [--since AGE | --after TIME] [--limit N] [--order newest|oldest] [--cursor C] [--json]",
  help: [
    URL_HELP,
    ...filterHelp(true),
    `  --limit N        tasks per page, 1 to ${MAX_FIND_LIMIT} (default ${DEFAULT_FIND_LIMIT})`,
    "  --order O        newest (default) or oldest first, by each task's last write",
    "  --cursor C       the next page: what the previous page printed (with --after in place of",
    "                   --since, as printed), same filters and order",
    "  --json           one JSON object per task (its full meta) instead of the table",
    "",
    "Prints a table: task id, state, name, last write (UTC), and the start of the result and",
    "metadata. When more tasks match, stderr says how to get the next page.",
  ],
  options: {
    url: { type: "string" },
    ...filterOptions(true),
    limit: { type: "string" },
    order: { type: "string" },
    cursor: { type: "string" },
    json: { type: "boolean" },
  },
  async run(parsed, io) {
    const url = requireUrl(parsed, this);
    const order = parsed.values.order;
    if (order !== undefined && order !== "newest" && order !== "oldest")
      throw new UsageError(`--order takes newest or oldest, got "${order}"`, this);
    const limit = intFlag(parsed, "limit", this);
    if (limit !== undefined && limit > MAX_FIND_LIMIT)
      throw new UsageError(`--limit must be at most ${MAX_FIND_LIMIT}, got ${limit}`, this);
    await runLs(url, io, {
      filter: parseFilter(parsed, this),
      json: parsed.values.json === true,
      ...(limit !== undefined && { limit }),
      ...(order && { order }),
      ...(typeof parsed.values.cursor === "string" && { cursor: parsed.values.cursor }),
    });
    return 0;
  },
};
