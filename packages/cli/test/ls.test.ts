/**
 * `resultstore ls` and `stats`: the command functions in-process against one memory backend
 * shared as `shared://` (a child process would start with an empty memory://), and the
 * executable once for its argument errors.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { MemoryBackend, ResultStore, type TaskMeta } from "@resultstore/core";
import { beforeAll, describe, expect, it } from "vitest";
import { parseCommand } from "../src/command.js";
import { parseFilter } from "../src/filters.js";
import { EXIT, runCli, runLs, runStats } from "../src/index.js";
import { lsCommand } from "../src/ls.js";
import { capture, sharedBackend } from "./helpers.js";

const backend = new MemoryBackend();
const backends = [sharedBackend(backend)];
const url = "shared://db";

/** Resolves once the clock has left the current millisecond: each task gets a time of its own. */
async function nextMillisecond(): Promise<void> {
  const start = Date.now();
  while (Date.now() === start) await new Promise((r) => setTimeout(r, 1));
}

beforeAll(async () => {
  const store = new ResultStore(backend);
  await store.markQueued("q1", { name: "tasks.upload", metadata: { user: 42, tenant: "acme" } });
  await nextMillisecond();
  await store.markQueued("f1", { name: "tasks.upload", metadata: { user: 42 } });
  await store.markFailure("f1", new Error("disk full"));
  await nextMillisecond();
  await store.markQueued("f2", { name: "tasks.mail", metadata: { user: "42" } });
  await store.markFailure("f2", new Error("smtp down"));
  await nextMillisecond();
  await store.markSuccess("s1", { sent: 3 }, { request: { name: "tasks.mail" } });
  await nextMillisecond();
  await store.markRevoked("r1", "revoked", { metadata: { vip: true } });
});

describe("resultstore ls", () => {
  it("prints a table of the tasks, most recently written first", async () => {
    const io = capture();
    const page = await runLs(url, io, { backends });
    expect(page.tasks.map((t) => t.taskId)).toEqual(["r1", "s1", "f2", "f1", "q1"]);
    const [header, rule, ...rows] = io.stdout.join("\n").split("\n");
    expect(header).toMatch(/^task\s+state\s+name\s+updated\s+result \/ metadata$/);
    expect(rule).toMatch(/^-+ {2}-+/);
    expect(rows[0]).toMatch(/^r1\s+REVOKED\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+.*"vip":true/);
    expect(rows[3]).toMatch(/^f1\s+FAILURE\s+tasks\.upload\s+/);
    expect(io.stderr).toEqual([]);
  });

  it("filters by state, name and typed metadata; --json prints each task's meta", async () => {
    const io = capture();
    await runLs(url, io, {
      backends,
      json: true,
      filter: { state: ["FAILURE", "REVOKED"], metadata: { user: 42 } },
    });
    const tasks = io.stdout.map((line) => JSON.parse(line) as TaskMeta);
    expect(tasks.map((t) => [t.taskId, t.status, t.name])).toEqual([
      ["f1", "FAILURE", "tasks.upload"],
    ]);
    expect(tasks[0]?.metadata).toEqual({ user: 42 });
  });

  it("pages with --limit and the cursor it prints on stderr", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const io = capture();
      const page = await runLs(url, io, {
        backends,
        limit: 2,
        order: "oldest",
        ...(cursor && { cursor }),
      });
      seen.push(...page.tasks.map((t) => t.taskId));
      if (!page.cursor) {
        expect(io.stderr).toEqual([]);
        break;
      }
      expect(io.stderr.join("\n")).toContain(`--cursor ${page.cursor}`);
      cursor = page.cursor;
    }
    expect(seen).toEqual(["q1", "f1", "f2", "s1", "r1"]);
  });

  it("with --since, the next page's hint carries the time as --after, which the cursor accepts", async () => {
    const io = capture();
    const since = new Date(Date.now() - 3_600_000);
    const page = await runLs(url, io, { backends, limit: 2, filter: { after: since } });
    const hint = /--cursor (\S+) --after (\S+)/.exec(io.stderr.join("\n"));
    expect(hint?.[1]).toBe(page.cursor);
    expect(hint?.[2]).toBe(since.toISOString());
    const rest = await runLs(url, capture(), {
      backends,
      limit: 2,
      cursor: hint?.[1] as string,
      filter: { after: new Date(hint?.[2] as string) },
    });
    expect(rest.tasks.map((t) => t.taskId)).toEqual(["f2", "f1"]);
  });

  it("says so when nothing matches", async () => {
    const io = capture();
    await runLs(url, io, { backends, filter: { name: "tasks.none" } });
    expect(io.stdout).toEqual(["no tasks match"]);
  });
});

describe("resultstore stats", () => {
  it("counts by state, every known state listed", async () => {
    const io = capture();
    const report = await runStats(url, io, { backends });
    expect(report.total).toBe(5);
    expect(report.counts).toMatchObject({
      QUEUED: 1,
      FAILURE: 2,
      SUCCESS: 1,
      REVOKED: 1,
      STARTED: 0,
    });
    const text = io.stdout.join("\n");
    expect(text).toMatch(/^state\s+tasks$/m);
    expect(text).toMatch(/^FAILURE\s+2$/m);
    expect(text).toMatch(/^total\s+5$/m);
  });

  it("takes the filters but state; --json prints one object", async () => {
    const io = capture();
    await runStats(url, io, { backends, json: true, filter: { name: "tasks.upload" } });
    const report = JSON.parse(io.stdout[0] ?? "{}");
    expect(report).toMatchObject({ url: "shared://db", total: 2 });
    expect(report.counts).toMatchObject({ QUEUED: 1, FAILURE: 1 });
  });
});

describe("ls and stats command lines", () => {
  const cases: [string, string[], RegExp][] = [
    ["ls without --url", ["ls"], /ls needs --url/],
    ["a bad --since", ["ls", "--url", "memory://", "--since", "5 minutes"], /--since takes an age/],
    [
      "--limit 0",
      ["ls", "--url", "memory://", "--limit", "0"],
      /--limit must be a whole number >= 1/,
    ],
    ["--limit 5000", ["ls", "--url", "memory://", "--limit", "5000"], /at most 1000/],
    [
      "a bad --order",
      ["ls", "--url", "memory://", "--order", "up"],
      /--order takes newest or oldest/,
    ],
    [
      "--meta without =",
      ["ls", "--url", "memory://", "--meta", "tenant"],
      /--meta takes KEY=VALUE/,
    ],
    ["a hostile --meta key", ["ls", "--url", "memory://", "--meta", "$where=1"], /not allowed/],
    [
      "a state no write could store",
      ["ls", "--url", "memory://", "--state", "in-progress"],
      /not a state name/,
    ],
    [
      "a cursor from elsewhere",
      ["ls", "--url", "memory://", "--cursor", "abc"],
      /cursor is not one find returned/,
    ],
    [
      "stats with --state",
      ["stats", "--url", "memory://", "--state", "SUCCESS"],
      /Unknown option '--state'/,
    ],
    [
      "--since and --after",
      ["ls", "--url", "memory://", "--since", "1h", "--after", "2026-01-01"],
      /not both/,
    ],
    [
      "a bad --after",
      ["ls", "--url", "memory://", "--after", "yesterday"],
      /--after takes an ISO 8601 time/,
    ],
  ];
  it.each(cases)("%s: usage on stderr, exit 2", async (_name, argv, message) => {
    const io = capture();
    expect(await runCli(argv, io)).toBe(EXIT.usage);
    expect(io.stderr.join("\n")).toMatch(message);
    expect(io.stderr.join("\n")).toMatch(/usage: resultstore (ls|stats)/);
    expect(io.stdout).toEqual([]);
  });

  it("--meta and --since become the filter: numbers and booleans typed, quoted text kept text", async () => {
    const argv = ["--meta", "user=42", "--meta", 'id="7"', "--meta", "vip=true", "--meta", "a=b=c"];
    const parsed = parseCommand(lsCommand, [
      ...argv,
      "--since",
      "2d",
      "--state",
      "failure,REVOKED",
    ]);
    const filter = parseFilter(parsed, lsCommand, Date.UTC(2026, 0, 3));
    expect(filter).toEqual({
      state: ["FAILURE", "REVOKED"],
      metadata: { user: 42, id: "7", vip: true, a: "b=c" },
      after: new Date(Date.UTC(2026, 0, 1)),
    });
    const io = capture();
    const code = await runCli(
      [
        "ls",
        "--url",
        "memory://",
        "--meta",
        "user=42",
        "--meta",
        'id="7"',
        "--meta",
        "vip=true",
        "--since",
        "2d",
        "--state",
        "failure,revoked",
      ],
      io,
    );
    expect(code).toBe(EXIT.ok);
    expect(io.stdout).toEqual(["no tasks match"]);
  });

  it("the executable: --help, and a bad flag exits 2 with the usage", () => {
    const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
    const run = (args: string[]) =>
      spawnSync(process.execPath, ["--no-warnings", bin, ...args], { encoding: "utf8" });
    const help = run(["ls", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--meta KEY=VALUE/);
    const bad = run(["stats", "--url", "memory://", "--since", "yesterday"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--since takes an age[\s\S]*usage: resultstore stats/);
    expect(bad.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
