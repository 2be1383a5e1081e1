/** The `resultstore` command line: global flags, dispatch, and exit codes. */
import { readFileSync } from "node:fs";
import { benchCommand } from "./bench.js";
import { cleanupCommand } from "./cleanup.js";
import { type Command, commandHelp, parseCommand, UsageError } from "./command.js";
import { conformanceCommand } from "./conformance.js";
import { demoCommand } from "./demo.js";
import { describeError } from "./hints.js";
import { inspectCommand } from "./inspect.js";
import type { CliIo } from "./io.js";
import { lsCommand } from "./ls.js";
import { statsCommand } from "./stats.js";
import { uiCommand } from "./ui.js";
import { watchCommand } from "./watch.js";

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  demoCommand,
  inspectCommand,
  lsCommand,
  statsCommand,
  uiCommand,
  watchCommand,
  cleanupCommand,
  benchCommand,
  conformanceCommand,
];

/** Exit codes: success, a failure (of the command or of what it checked), a command line error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The CLI package's version, from its package.json (one level above dist/). */
export function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  return String(manifest.version);
}

/** The top-level usage: every command's synopsis. */
export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "usage: resultstore <command> [options]",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "  resultstore <command> --help     one command's options",
    "  resultstore --version            the CLI's version",
  ].join("\n");
}

/** Runs the command line `argv` (without `node` and the script); resolves the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-v") {
    io.out(cliVersion());
    return EXIT.ok;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    const command = COMMANDS.find((c) => c.name === rest[0]);
    io.out(command ? commandHelp(command) : usage());
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === first);
  let url: string | undefined;
  try {
    if (!command) {
      throw new UsageError(first === undefined ? "no command given" : `unknown command "${first}"`);
    }
    const parsed = parseCommand(command, rest);
    if (parsed.help) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    url = typeof parsed.values.url === "string" ? parsed.values.url : undefined;
    return await command.run(parsed, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`error: ${error.message}\n`);
      io.err(error.command ? commandHelp(error.command) : usage());
      return EXIT.usage;
    }
    for (const line of describeError(error, url)) io.err(line);
    return EXIT.failed;
  }
}
