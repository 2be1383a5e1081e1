/** `resultstore inspect <taskId…> --url URL`: stored meta as JSON. */
import { type Command, requireUrl, UsageError } from "./command.js";
import type { CliIo } from "./io.js";
import { isMemoryUrl, MEMORY_NOTE, openStore, type StoreChoice } from "./store.js";

const json = (value: unknown) =>
  JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}` : v), 2);

/** Prints each task's meta (one JSON document per id); on memory:// says why all are PENDING. */
export async function runInspect(
  url: string,
  taskIds: readonly string[],
  io: CliIo,
  choice: StoreChoice = {},
): Promise<void> {
  const store = await openStore(url, choice);
  try {
    if (isMemoryUrl(url)) io.err(MEMORY_NOTE);
    for (const meta of await store.getMany(taskIds)) io.out(json(meta));
  } finally {
    await store.close();
  }
}

/** `resultstore inspect` */
export const inspectCommand: Command = {
  name: "inspect",
  summary: "print tasks' stored meta as JSON",
  usage: "resultstore inspect <taskId…> --url URL",
  help: ["  --url URL        the store your workers write to"],
  options: { url: { type: "string" } },
  async run(parsed, io) {
    if (!parsed.positionals.length) throw new UsageError("inspect needs a task id", this);
    await runInspect(requireUrl(parsed, this), parsed.positionals, io);
    return 0;
  },
};
