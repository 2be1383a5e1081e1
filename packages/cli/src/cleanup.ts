/** `resultstore cleanup --url URL`: deletes expired records, groups and counters; says how many. */
import { type Command, requireUrl } from "./command.js";
import type { CliIo } from "./io.js";
import { displayUrl } from "./secrets.js";
import { openStore, type StoreChoice } from "./store.js";

/** How often progress is shown while the backend works. */
const PROGRESS_MS = { tty: 1000, plain: 10_000 };

/** Runs the backend's cleanup with elapsed-time progress; resolves the count removed. */
export async function runCleanup(
  url: string,
  io: CliIo,
  choice: StoreChoice = {},
): Promise<number> {
  const store = await openStore(url, choice);
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const where = displayUrl(url);
  io.err(`cleaning up expired records in ${where}…`);
  const timer = setInterval(
    () =>
      io.isTTY
        ? io.write(`\r  still working, ${elapsed()}`)
        : io.err(`  still working, ${elapsed()}`),
    io.isTTY ? PROGRESS_MS.tty : PROGRESS_MS.plain,
  );
  try {
    const removed = await store.cleanup();
    if (io.isTTY) io.write("\r\x1b[K");
    io.out(
      `removed ${removed} expired item${removed === 1 ? "" : "s"} from ${where} in ${elapsed()}`,
    );
    return removed;
  } finally {
    clearInterval(timer);
    await store.close();
  }
}

/** `resultstore cleanup` */
export const cleanupCommand: Command = {
  name: "cleanup",
  summary: "delete expired task records, groups and counters, and print how many",
  usage: "resultstore cleanup --url URL",
  help: [
    "  --url URL        the store to clean (the backend's own expiry may already have done it)",
  ],
  options: { url: { type: "string" } },
  async run(parsed, io) {
    await runCleanup(requireUrl(parsed, this), io);
    return 0;
  },
};
