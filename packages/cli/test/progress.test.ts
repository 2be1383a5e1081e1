/**
 * Progress on long commands: a redrawn line on stderr when it is a terminal, nothing otherwise.
 * The terminal cases run the built executable under a real pseudo-terminal (`script` from
 * util-linux), as a user's shell runs it; the piped cases check that stdout stays parseable.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatProgress, type ProgressSink, runConformance, startProgress } from "../src/index.js";
import { faultyBackends } from "./helpers.js";

const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
const ESC = "\x1b";
const CLEAR = `\r${ESC}[K`;

/** A terminal stand-in that records what was drawn. */
function ttySink(columns = 80): ProgressSink & { text: string } {
  const sink = {
    isTTY: true,
    columns,
    text: "",
    write: (t: string) => {
      sink.text += t;
    },
  };
  return sink;
}

/** Runs `command` (a shell line) under a pseudo-terminal; what the terminal showed. */
function inTerminal(command: string): { status: number | null; shown: string } {
  const result = spawnSync("script", ["-qefc", command, "/dev/null"], {
    encoding: "utf8",
    env: { ...process.env, COLUMNS: "120", TERM: "xterm" },
    timeout: 60_000,
  });
  return { status: result.status, shown: result.stdout };
}

const cli = (args: string) => `'${process.execPath}' --no-warnings '${bin}' ${args}`;
// util-linux's `script` is on every machine this project runs on; in CI its absence fails the run.
const hasScript = spawnSync("script", ["--version"]).status === 0 || Boolean(process.env.CI);

describe("the progress line", () => {
  it("shows count, total, share, rate, elapsed and what runs now", () => {
    expect(
      formatProgress({
        label: "bench",
        count: 1500,
        total: 6000,
        unit: "ops",
        elapsedMs: 2000,
        status: "get at concurrency 64",
      }),
    ).toBe("bench · 1500/6000 ops (25%) · 750/s · 2.0 s · get at concurrency 64");
    expect(
      formatProgress({ label: "ls", count: 123_456, unit: "records", elapsedMs: 10_000 }),
    ).toBe("ls · 123.5k records · 12.3k/s · 10.0 s");
    // Without a unit (cleanup: one backend call that returns only a count) just the time.
    expect(formatProgress({ label: "cleanup", count: 0, elapsedMs: 1234 })).toBe("cleanup · 1.2 s");
  });

  it("on a terminal: redrawn in place, out of the way of printed lines, cleared at the end", () => {
    let clock = 0;
    const sink = ttySink();
    const progress = startProgress(sink, { label: "ls", unit: "records", now: () => clock });
    clock = 2000;
    progress.tick(10);
    const printed: string[] = [];
    progress.above(() => printed.push("a line on stdout"));
    expect(sink.text.split(CLEAR).filter(Boolean)).toEqual([
      "⠋ ls · 0 records · 0.0/s · 0.0 s",
      "⠙ ls · 10 records · 5.0/s · 2.0 s",
    ]);
    expect(printed).toEqual(["a line on stdout"]);
    expect(progress.stop()).toEqual({ count: 10, elapsedMs: 2000, perSecond: 5 });
    expect(sink.text.endsWith(CLEAR)).toBe(true);
  });

  it("cut to the terminal's width", () => {
    const sink = ttySink(30);
    startProgress(sink, { label: "x".repeat(60) }).stop();
    const [line = ""] = sink.text.split(CLEAR).filter(Boolean);
    expect(line.length).toBeLessThanOrEqual(29);
    expect(line.endsWith("…")).toBe(true);
  });

  it("not a terminal: nothing is written, the count still kept", () => {
    const written: string[] = [];
    const progress = startProgress(
      { isTTY: false, write: (t) => written.push(t) },
      { label: "bench", unit: "ops" },
    );
    progress.tick(3);
    progress.above(() => {});
    expect(progress.stop().count).toBe(3);
    expect(written).toEqual([]);
  });
});

describe.skipIf(!hasScript)("under a real terminal (script)", () => {
  it("bench draws ops, rate and elapsed on the terminal, then the table", () => {
    const { status, shown } = inTerminal(cli("bench --url memory:// --ops 20000 --concurrency 1"));
    expect(status).toBe(0);
    expect(shown).toMatch(/bench · \d+(\.\d)?k?\/60\.0k ops \(\d+%\) · [\d.]+k?\/s · \d+\.\d s/);
    expect(shown).toContain(CLEAR);
    expect(shown).toMatch(/op\s+concurrency\s+ops\/s/);
  });

  it("bench --json with stdout redirected: progress on the terminal, the file holds only JSON", () => {
    const out = join(mkdtempSync(join(tmpdir(), "resultstore-progress-")), "bench.json");
    const { status, shown } = inTerminal(
      `${cli("bench --url memory:// --ops 20000 --concurrency 1 --json")} > '${out}'`,
    );
    expect(status).toBe(0);
    expect(shown).toMatch(/bench · .* ops/);
    const report = JSON.parse(readFileSync(out, "utf8"));
    expect(report.rows).toHaveLength(3);
    expect(report.rows[0]).toMatchObject({ op: "store", concurrency: 1 });
  });

  it("cleanup shows its elapsed time while the backend works, then the count", () => {
    const { status, shown } = inTerminal(cli("cleanup --url memory://"));
    expect(status).toBe(0);
    expect(shown).toMatch(/cleanup · \d+\.\d s/);
    expect(shown).toMatch(/removed 0 expired items from memory:\/\/ in \d+\.\d s/);
  });
});

describe("piped: quiet and parseable", () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ["--no-warnings", bin, ...args], { encoding: "utf8" });

  it("bench --json prints one JSON object and nothing on stderr", () => {
    const result = run(["bench", "--url", "memory://", "--ops", "200", "--json"]);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe("");
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? "").rows).toHaveLength(6);
  });

  it("cleanup --json prints one JSON object; without it, plain lines with no escape codes", () => {
    const json = run(["cleanup", "--url", "memory://", "--json"]);
    expect(json.status).toBe(0);
    expect(json.stderr).toBe("");
    expect(JSON.parse(json.stdout)).toMatchObject({ url: "memory://", removed: 0 });
    const plain = run(["cleanup", "--url", "memory://"]);
    const output = `${plain.stdout}${plain.stderr}`;
    expect(output.includes("\r") || output.includes(ESC)).toBe(false);
    expect(plain.stdout).toMatch(/^removed 0 expired items from memory:\/\/ in \d+\.\d s\n$/);
  });

  it("conformance --json against a failing server: one JSON report, every test in it", async () => {
    const printed: string[] = [];
    const sink = ttySink();
    const broken = faultyBackends((b) => {
      b.incr = async () => {
        throw new Error("sabotaged incr");
      };
    });
    const ok = await runConformance(
      "faulty://db",
      (l) => printed.push(l),
      { backends: [broken] },
      {
        json: true,
        progress: sink,
      },
    );
    expect(ok).toBe(false);
    expect(printed).toHaveLength(1);
    const report = JSON.parse(printed[0] ?? "");
    expect(report.failed).toBeGreaterThan(0);
    expect(report.tests).toHaveLength(report.passed + report.failed);
    expect(report.dropped).toBe(true);
    expect(report.tests.find((t: { ok: boolean }) => !t.ok).error).toMatch(/sabotaged incr/);
    // The progress line went to the (stand-in) terminal: tests done of the total, rate, elapsed.
    expect(sink.text).toMatch(
      new RegExp(`conformance · ${report.tests.length}/\\d+ tests \\(100%\\)`),
    );
  }, 120_000);
});
