/**
 * `resultstore watch <taskId…> | --group G --url URL`: polls until every task is ready. On a
 * terminal it redraws one table in place; otherwise it prints a line per state change, which
 * reads well in CI logs and pipes.
 */
import { READY_STATES, type ResultStore, type TaskMeta } from "@resultstore/core";
import { type Command, intFlag, requireUrl, UsageError } from "./command.js";
import type { CliIo } from "./io.js";
import { isMemoryUrl, MEMORY_NOTE, openStore, type StoreChoice } from "./store.js";
import { brief, renderTable } from "./table.js";

/** What to watch and how. */
export interface WatchOptions extends StoreChoice {
  url: string;
  /** Task ids; or */
  taskIds?: readonly string[];
  /** a saved group, whose members are watched. */
  groupId?: string;
  /** Between polls. @default 1000 */
  intervalMs?: number;
  /** Give up after this long (exit 1). @default no limit */
  timeoutMs?: number;
}

const isReady = (m: TaskMeta) => (READY_STATES as ReadonlySet<string>).has(m.status);

/** Watches until all are ready; 0 when all succeeded, 1 when one did not or time ran out. */
export async function runWatch(options: WatchOptions, io: CliIo): Promise<number> {
  const store = await openStore(options.url, options);
  try {
    if (isMemoryUrl(options.url)) io.err(MEMORY_NOTE);
    const taskIds = await idsToWatch(store, options);
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    const seen = new Map<string, string>();
    let drawnLines = 0;
    for (;;) {
      const metas = await store.getMany(taskIds);
      if (io.isTTY) {
        const table = renderTable(
          ["task", "state", "result", "done"],
          metas.map((m) => [
            m.taskId,
            m.status,
            brief(m.result, 40),
            m.dateDone?.toISOString() ?? "",
          ]),
        );
        // Move to the start of the previous drawing and clear it, then draw anew.
        io.write(`${drawnLines ? `\x1b[${drawnLines}F\x1b[J` : ""}${table}\n`);
        drawnLines = table.split("\n").length;
      } else {
        for (const m of metas) {
          if (seen.get(m.taskId) === m.status) continue;
          seen.set(m.taskId, m.status);
          io.out(`${new Date().toISOString()}  ${m.taskId}  ${m.status}`);
        }
      }
      if (metas.every(isReady)) return summarize(metas, io);
      if (Date.now() >= deadline) {
        const waiting = metas.filter((m) => !isReady(m)).length;
        io.err(`timed out: ${waiting} of ${metas.length} not ready`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 1000));
    }
  } finally {
    await store.close();
  }
}

async function idsToWatch(store: ResultStore, options: WatchOptions): Promise<readonly string[]> {
  if (options.groupId === undefined) return options.taskIds ?? [];
  const group = await store.restoreGroup(options.groupId);
  if (!group) throw new Error(`no group "${options.groupId}" in this store (or it expired)`);
  return group.taskIds;
}

function summarize(metas: TaskMeta[], io: CliIo): number {
  const counts = new Map<string, number>();
  for (const m of metas) counts.set(m.status, (counts.get(m.status) ?? 0) + 1);
  const parts = [...counts].map(([state, n]) => `${n} ${state}`);
  io.out(`all ${metas.length} ready: ${parts.join(", ")}`);
  return metas.every((m) => m.status === "SUCCESS") ? 0 : 1;
}

/** `resultstore watch` */
export const watchCommand: Command = {
  name: "watch",
  summary: "show tasks' states until all are ready (a live table on a terminal)",
  usage: "resultstore watch <taskId…> --url URL | --group GROUP_ID --url URL",
  help: [
    "  --url URL        the store your workers write to",
    "  --group ID       watch the members of a saved group instead of listed ids",
    "  --interval MS    between polls (default 1000)",
    "  --timeout S      give up after S seconds (exit 1)",
    "",
    "Exit code 0 when every task ended in SUCCESS, 1 otherwise. Without a terminal it prints",
    "one line per state change.",
  ],
  options: {
    url: { type: "string" },
    group: { type: "string" },
    interval: { type: "string" },
    timeout: { type: "string" },
  },
  async run(parsed, io) {
    const group = parsed.values.group;
    const hasGroup = typeof group === "string";
    if (hasGroup === parsed.positionals.length > 0) {
      throw new UsageError("watch needs task ids or --group, not both", this);
    }
    const timeout = intFlag(parsed, "timeout", this);
    return runWatch(
      {
        url: requireUrl(parsed, this),
        ...(hasGroup ? { groupId: group } : { taskIds: parsed.positionals }),
        intervalMs: intFlag(parsed, "interval", this) ?? 1000,
        ...(timeout !== undefined && { timeoutMs: timeout * 1000 }),
      },
      io,
    );
  },
};
