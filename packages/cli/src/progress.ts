/**
 * Progress of a long command (cleanup, bench, conformance, and any command that walks many
 * records): one line on stderr, redrawn in place while stderr is a terminal — count, total, rate,
 * elapsed time — and nothing at all otherwise, so piped and `--json` output stays clean.
 */
import type { CliIo } from "./io.js";

/** Where progress is drawn: the terminal behind stderr, or nowhere. */
export interface ProgressSink {
  /** Draw only when true. */
  readonly isTTY: boolean;
  /** Raw text, no newline added. */
  write(text: string): void;
  /** Terminal width; the line is cut to fit. @default 100 */
  readonly columns?: number;
}

/** What a finished run counted. */
export interface ProgressSummary {
  count: number;
  elapsedMs: number;
  /** `count` per second over the whole run (0 before any time passed). */
  perSecond: number;
}

/** A running progress line. */
export interface Progress {
  /** `n` more items done. */
  tick(n?: number): void;
  /** The number of items to do, once it is known. */
  setTotal(total: number): void;
  /** What is being done now, shown after the figures (a test's name, a phase). */
  status(text: string): void;
  /** Runs `print` (lines on stdout) with the live line out of the way: cleared, then redrawn. */
  above(print: () => void): void;
  /** Stops redrawing and clears the line; what was counted. */
  stop(): ProgressSummary;
}

/** What {@link startProgress} draws. */
export interface ProgressOptions {
  /** What is running, e.g. "cleanup" or "bench". */
  label: string;
  /** Items to do, when known up front. */
  total?: number;
  /** What is counted, e.g. "tests", "ops". Without it only elapsed time is shown (a spinner). */
  unit?: string;
  /** Milliseconds between redraws. @default 200 */
  intervalMs?: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

/** stderr as a progress sink: drawn only when stderr is a terminal. */
export function progressSink(io: CliIo): ProgressSink {
  return {
    isTTY: Boolean(io.errIsTTY && io.errWrite),
    write: (text) => io.errWrite?.(text),
    columns: io.errColumns,
  };
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const CLEAR_LINE = "\r\x1b[K";

/** `1234`, `12.3k`, `4.5M`: short enough for one line. */
function compact(n: number): string {
  if (n < 10_000) return String(Math.round(n));
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** The figures of one redraw, without the spinner: pure, for tests and for the line. */
export function formatProgress(state: {
  label: string;
  count: number;
  total?: number;
  unit?: string;
  elapsedMs: number;
  status?: string;
}): string {
  const seconds = state.elapsedMs / 1000;
  const parts = [state.label];
  if (state.unit) {
    const { count, total } = state;
    const share = total ? ` (${Math.floor((100 * count) / total)}%)` : "";
    parts.push(`${compact(count)}${total ? `/${compact(total)}` : ""} ${state.unit}${share}`);
    const rate = seconds > 0 ? count / seconds : 0;
    parts.push(`${rate >= 100 ? compact(rate) : rate.toFixed(1)}/s`);
  }
  parts.push(`${seconds.toFixed(1)} s`);
  if (state.status) parts.push(state.status);
  return parts.join(" · ");
}

/** Starts a progress line on `sink`; a no-op that still counts when the sink is not a terminal. */
export function startProgress(sink: ProgressSink, options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const started = now();
  let count = 0;
  let total = options.total;
  let status: string | undefined;
  let frame = 0;
  let drawn = false;
  // A pseudo-terminal without a size reports 0 columns.
  const width = Math.max(20, (sink.columns || 100) - 1);
  const draw = () => {
    if (!sink.isTTY) return;
    const figures = formatProgress({
      label: options.label,
      count,
      total,
      unit: options.unit,
      elapsedMs: now() - started,
      status,
    });
    const line = `${SPINNER[frame++ % SPINNER.length]} ${figures}`;
    sink.write(`${CLEAR_LINE}${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) sink.write(CLEAR_LINE);
    drawn = false;
  };
  draw();
  const timer = sink.isTTY ? setInterval(draw, options.intervalMs ?? 200) : undefined;
  // A redraw timer must never keep the process alive on its own.
  timer?.unref?.();
  let stopped = false;
  return {
    tick(n = 1) {
      count += n;
    },
    setTotal(n) {
      total = n;
    },
    status(text) {
      status = text;
    },
    above(print) {
      clear();
      print();
      if (!stopped) draw();
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      clear();
      const elapsedMs = now() - started;
      return { count, elapsedMs, perSecond: elapsedMs > 0 ? (count * 1000) / elapsedMs : 0 };
    },
  };
}
