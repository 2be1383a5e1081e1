/** The shape of one `resultstore` command, and the parsing every command shares. */
import { parseArgs } from "node:util";
import { InvalidQueryError } from "@resultstore/core";
import type { CliIo } from "./io.js";

/** Options in `node:util` parseArgs form. */
export type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
>;

/** What a command's `run` receives. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** One command: its help text, its options, and what it does; `run` resolves the exit code. */
export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The synopsis, e.g. `resultstore inspect <taskId…> --url URL`. */
  readonly usage: string;
  /** Lines under the synopsis in `--help`: options and what the command prints. */
  readonly help: readonly string[];
  readonly options: OptionSpec;
  /** Runs the command; resolves the process's exit code. */
  run(parsed: Parsed, io: CliIo): Promise<number>;
}

/** A command line that does not parse: printed with the usage, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: Command,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * For `.catch`: a filter or cursor the store refused (`InvalidQueryError`) is the command line's
 * fault, so it becomes a `UsageError` (exit code 2); anything else passes through.
 */
export function asUsageError(command: Command): (error: unknown) => never {
  return (error) => {
    if (error instanceof InvalidQueryError)
      throw new UsageError(error.message.replace(/^\[resultstore\] \[core\] /, ""), command);
    throw error;
  };
}

/** Parses `argv` for `command`; every parse failure becomes a UsageError. */
export function parseCommand(command: Command, argv: string[]): Parsed & { help: boolean } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { ...command.options, help: { type: "boolean", short: "h" } },
    });
    const { help, ...rest } = values as Record<string, string | boolean | string[] | undefined>;
    return { values: rest, positionals, help: help === true };
  } catch (error) {
    throw new UsageError((error as Error).message.split(". To specify")[0] ?? "", command);
  }
}

/** The `--url` value, or a usage error saying the command needs it. */
export function requireUrl(parsed: Parsed, command: Command): string {
  const url = parsed.values.url;
  if (typeof url !== "string" || !url)
    throw new UsageError(`${command.name} needs --url URL`, command);
  return url;
}

/** A whole-number option, or a usage error. */
export function intFlag(
  parsed: Parsed,
  name: string,
  command: Command,
  min = 1,
): number | undefined {
  const raw = parsed.values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be a whole number >= ${min}, got "${raw}"`, command);
  }
  return n;
}

/** `--help` text for one command. */
export function commandHelp(command: Command): string {
  return [
    `usage: ${command.usage}`,
    "",
    command.summary,
    ...(command.help.length ? ["", ...command.help] : []),
  ].join("\n");
}

/** `--url URL` in the help of every command that takes one. */
export const URL_HELP =
  "  --url URL        the store, e.g. memory://, mongodb://host:27017/db, dynamodb://key:secret@host:8000/table";
