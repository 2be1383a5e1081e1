/** Where a command writes. Tests pass their own; `bin.ts` passes the process's streams. */
export interface CliIo {
  /** One line of output (stdout). */
  out(line: string): void;
  /** One line of diagnostics: progress, notes, errors (stderr). */
  err(line: string): void;
  /** Raw text to stdout, for redrawing a live table in place. */
  write(text: string): void;
  /** stdout is a terminal: live tables and in-place progress; otherwise plain lines. */
  readonly isTTY: boolean;
  /** stderr is a terminal: long commands draw their progress line there (see progress.ts). */
  readonly errIsTTY?: boolean;
  /** Raw text to stderr, for the progress line. */
  errWrite?(text: string): void;
  /** stderr's terminal width. */
  readonly errColumns?: number;
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    write: (text) => process.stdout.write(text),
    isTTY: Boolean(process.stdout.isTTY),
    errIsTTY: Boolean(process.stderr.isTTY),
    errWrite: (text) => process.stderr.write(text),
    errColumns: process.stderr.columns,
  };
}
