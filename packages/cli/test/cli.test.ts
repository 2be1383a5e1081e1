import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryBackend, ResultStore } from "@resultstore/core";
import { describe, expect, it } from "vitest";
import {
  COMMANDS,
  EXIT,
  runBench,
  runCleanup,
  runCli,
  runConformance,
  runDemo,
  runInspect,
  runWatch,
} from "../src/index.js";
import { displayUrl } from "../src/secrets.js";
import { capture, faultyBackends, sharedBackend } from "./helpers.js";

const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
const version = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
).version;

/** The built executable, as a user runs it, in an environment with no AWS settings. */
function runBin(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")),
  );
  return spawnSync(process.execPath, ["--no-warnings", bin, ...args], {
    encoding: "utf8",
    env: { ...clean, AWS_EC2_METADATA_DISABLED: "true", ...env },
  });
}

describe("resultstore --version and --help", () => {
  it("--version prints the package's version", async () => {
    const io = capture();
    expect(await runCli(["--version"], io)).toBe(EXIT.ok);
    expect(io.stdout).toEqual([version]);
  });

  it.each(COMMANDS.map((c) => [c.name, c]))(
    "%s --help prints its usage and options",
    async (_n, c) => {
      for (const argv of [
        [c.name, "--help"],
        [c.name, "-h"],
        ["help", c.name],
      ]) {
        const io = capture();
        expect(await runCli(argv, io)).toBe(EXIT.ok);
        expect(io.stdout.join("\n")).toContain(`usage: ${c.usage}`);
        expect(io.stdout.join("\n")).toContain(c.summary);
      }
    },
  );

  it("--help lists every command", async () => {
    const io = capture();
    expect(await runCli(["--help"], io)).toBe(EXIT.ok);
    for (const c of COMMANDS) expect(io.stdout.join("\n")).toContain(c.name);
  });
});

describe("a command line that does not parse: usage on stderr, exit 2", () => {
  const cases: [string, string[], RegExp][] = [
    ["no command", [], /no command given/],
    ["an unknown command", ["frobnicate"], /unknown command "frobnicate"/],
    ["an unknown flag", ["inspect", "x", "--frob"], /Unknown option '--frob'/],
    ["--url without a value", ["inspect", "x", "--url"], /argument missing/],
    ["inspect without an id", ["inspect", "--url", "memory://"], /inspect needs a task id/],
    ["conformance without --url", ["conformance"], /conformance needs --url/],
    [
      "watch with ids and --group",
      ["watch", "a", "--group", "g", "--url", "memory://"],
      /not both/,
    ],
    [
      "a bad number",
      ["bench", "--url", "memory://", "--ops", "many"],
      /--ops must be a whole number/,
    ],
    ["a bad list", ["bench", "--url", "memory://", "--concurrency", "1,x"], /--concurrency/],
  ];
  it.each(cases)("%s", async (_name, argv, message) => {
    const io = capture();
    expect(await runCli(argv, io)).toBe(EXIT.usage);
    expect(io.stderr.join("\n")).toMatch(message);
    expect(io.stderr.join("\n")).toMatch(/usage: resultstore/);
    expect(io.stdout).toEqual([]);
  });

  it("the executable exits 2 with usage, not a stack trace", () => {
    const result = runBin(["inspect", "--frob"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/usage: resultstore inspect/);
    expect(result.stderr).not.toMatch(/TypeError|at .*\.js:\d+/);
  });

  it("the executable prints its version", () => {
    expect(runBin(["--version"]).stdout.trim()).toBe(version);
  });
});

describe("resultstore inspect", () => {
  it("on memory:// says that memory is per process", async () => {
    const io = capture();
    await runInspect("memory://", ["t1"], io);
    expect(io.stderr.join("\n")).toMatch(/memory:\/\/ lives inside one process/);
    expect(JSON.parse(io.stdout[0] ?? "{}")).toMatchObject({ taskId: "t1", status: "PENDING" });
  });

  it("prints each stored task", async () => {
    const backend = new MemoryBackend();
    await new ResultStore(backend).markSuccess("t1", { pages: 3 });
    const io = capture();
    await runInspect("shared://db", ["t1", "t2"], io, { backends: [sharedBackend(backend)] });
    expect(io.stdout.map((s) => JSON.parse(s).status)).toEqual(["SUCCESS", "PENDING"]);
    expect(io.stderr).toEqual([]);
  });
});

describe("resultstore watch", () => {
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("without a terminal prints a line per state change and ends when all are ready", async () => {
    const backend = new MemoryBackend();
    const producer = new ResultStore(backend);
    await producer.markQueued("a");
    await producer.markQueued("b");
    const io = capture(false);
    const watching = runWatch(
      {
        url: "shared://db",
        taskIds: ["a", "b"],
        intervalMs: 20,
        backends: [sharedBackend(backend)],
      },
      io,
    );
    await wait(60);
    await producer.markStarted("a");
    await wait(60);
    await producer.markSuccess("a", 1);
    await producer.markFailure("b", new Error("boom"));
    expect(await watching).toBe(1);
    const states = io.stdout.slice(0, -1).map((l) => l.split(/\s+/).slice(1).join(" "));
    expect(states).toEqual(["a QUEUED", "b QUEUED", "a STARTED", "a SUCCESS", "b FAILURE"]);
    expect(io.stdout.at(-1)).toBe("all 2 ready: 1 SUCCESS, 1 FAILURE");
    expect(io.raw).toEqual([]);
  });

  it("on a terminal redraws one table in place; exit 0 when all succeeded", async () => {
    const backend = new MemoryBackend();
    const producer = new ResultStore(backend);
    await producer.saveGroup("g1", ["a", "b"]);
    await producer.markSuccess("a", "first");
    const io = capture(true);
    const watching = runWatch(
      { url: "shared://db", groupId: "g1", intervalMs: 20, backends: [sharedBackend(backend)] },
      io,
    );
    await wait(60);
    await producer.markSuccess("b", "second");
    expect(await watching).toBe(0);
    expect(io.raw.length).toBeGreaterThan(1);
    expect(io.raw[0]).toMatch(/^task\s+state/);
    expect(io.raw.slice(1).every((frame) => frame.startsWith("\x1b[4F\x1b[J"))).toBe(true);
    expect(io.raw.at(-1)).toMatch(/b\s+SUCCESS\s+"second"/);
  });

  it("gives up after --timeout, exit 1", async () => {
    const io = capture();
    const code = await runWatch(
      {
        url: "shared://db",
        taskIds: ["never"],
        intervalMs: 10,
        timeoutMs: 50,
        backends: [sharedBackend()],
      },
      io,
    );
    expect(code).toBe(1);
    expect(io.stderr.join("\n")).toMatch(/timed out: 1 of 1 not ready/);
  });

  it("an unknown group is an error", async () => {
    await expect(
      runWatch({ url: "shared://db", groupId: "nope", backends: [sharedBackend()] }, capture()),
    ).rejects.toThrow(/no group "nope"/);
  });
});

describe("resultstore cleanup", () => {
  it("reports progress and the number removed", async () => {
    const backend = new MemoryBackend();
    const producer = new ResultStore(backend, { expires: 1 });
    for (const id of ["x1", "x2", "x3"]) await producer.markSuccess(id, id);
    await new ResultStore(backend, { expires: null }).markSuccess("kept", 1);
    await new Promise((r) => setTimeout(r, 1100));
    const io = capture();
    expect(await runCleanup("shared://db", io, { backends: [sharedBackend(backend)] })).toBe(3);
    expect(io.stderr[0]).toMatch(/^cleaning up expired records in shared:\/\/db/);
    expect(io.stdout.at(-1)).toMatch(/^removed 3 expired items from shared:\/\/db in \d+\.\d s$/);
    expect((await new ResultStore(backend).getMeta("kept")).status).toBe("SUCCESS");
  });
});

describe("resultstore bench", () => {
  it("measures store, get and incr at each concurrency", async () => {
    const io = capture();
    const rows = await runBench("memory://", { ops: 50, concurrencies: [1, 8] }, io);
    expect(rows.map((r) => `${r.op}@${r.concurrency}`)).toEqual([
      "store@1",
      "get@1",
      "incr@1",
      "store@8",
      "get@8",
      "incr@8",
    ]);
    for (const r of rows) expect(r.opsPerSec).toBeGreaterThan(0);
    expect(io.stdout[0]).toMatch(/^op\s+concurrency\s+ops\/s\s+p50 ms\s+p99 ms/);
  });
});

describe("resultstore demo", () => {
  it("tells the story: metadata kept, late STARTED refused, chord fired once", async () => {
    const lines: string[] = [];
    await runDemo("memory://", (line) => lines.push(line));
    const out = lines.join("\n");
    expect(out).toMatch(/duplicate STARTED after SUCCESS .*: refused, state stays SUCCESS/);
    expect(out).toMatch(/callback fired 1 time\b/);
    expect(out).toMatch(/SUCCESS .*"tenant":"acme","requestedBy":"ana"/);
    expect(out).toMatch(/FAILURE .*cat\.png not found/);
    expect(out).toMatch(/chord\.sum\s+SUCCESS\s+60/);
  });
  it("reports the failure itself, not the cleanup's", async () => {
    const broken = faultyBackends((b) => {
      b.write = async () => {
        throw new Error("disk full: the real error");
      };
      b.destroy = async () => {
        throw new Error("cleanup failed too");
      };
    });
    await expect(runDemo("faulty://db", () => {}, { backends: [broken] })).rejects.toThrow(
      "disk full: the real error",
    );
  });

  it("a failing --url is reported with the server's error and a hint, exit 1", () => {
    const result = runBin([
      "demo",
      "--url",
      "dynamodb://AKIAEXAMPLEKEY:wJalrSECRETkey@127.0.0.1:1/t",
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/ECONNREFUSED 127\.0\.0\.1:1/);
    // The demo fails on its first call, not in the cleanup it runs on the way out.
    expect(result.stderr).not.toMatch(/Removal of table/);
    expect(result.stderr).toMatch(/hint: nothing answered at 127\.0\.0\.1:1/);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/AKIAEXAMPLEKEY|wJalrSECRETkey/);
  });
});

describe("hints", () => {
  it("DynamoDB without credentials: says where credentials go", () => {
    const home = mkdtempSync(join(tmpdir(), "resultstore-nohome-"));
    const result = runBin(["inspect", "t1", "--url", "dynamodb://127.0.0.1:1/results"], {
      HOME: home,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/CredentialsProviderError|Could not load credentials/);
    expect(result.stderr).toMatch(/hint: DynamoDB needs credentials/);
  });
});

describe("resultstore conformance", () => {
  it("runs the whole suite against a URL and reports a closing count", async () => {
    const lines: string[] = [];
    expect(await runConformance("memory://", (line) => lines.push(line))).toBe(true);
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
  }, 120_000);

  it("survives a server that is not there: every test reported, a closing count, secrets masked", async () => {
    const lines: string[] = [];
    const ok = await runConformance("dynamodb://AKIAEXAMPLEKEY:wJalrSECRETkey@127.0.0.1:1", (l) =>
      lines.push(l),
    );
    expect(ok).toBe(false);
    const reported = lines.filter((l) => /^\[\s*\d+\/\d+\] (ok {2}|FAIL|skip) /.test(l));
    const total = Number(/\/(\d+)\]/.exec(reported[0] ?? "")?.[1]);
    expect(reported).toHaveLength(total);
    // Tests that skip themselves would be counted apart (", N skipped"); none does on DynamoDB.
    expect(lines.at(-1)).toMatch(/^\d+ passed, [1-9]\d* failed(, \d+ skipped)?$/);
    const [passed, failed, skipped] = (lines.at(-1) ?? "").match(/\d+/g)?.map(Number) ?? [];
    expect((passed ?? 0) + (failed ?? 0) + (skipped ?? 0)).toBe(total);
    // The race test used to leave a rejection nobody awaited, which ended the process.
    expect(lines.join("\n")).not.toMatch(/no test awaited/);
    expect(lines.join("\n")).not.toMatch(/AKIAEXAMPLEKEY|wJalrSECRETkey/);
  }, 120_000);

  it("its header masks the access key id even when the secret holds an unencoded /", () => {
    // As a URL, "AKIAEXAMPLEKEY:12/wJalr@h" is host AKIAEXAMPLEKEY, port 12, path "/wJalr@h".
    for (const secret of ["12/wJalrSECRET", "ab/wJalrSECRET", "1?wJalrSECRET"]) {
      const shown = displayUrl(`dynamodb://AKIAEXAMPLEKEY:${secret}@127.0.0.1:8000`);
      expect(shown).toBe("dynamodb://***@127.0.0.1:8000");
    }
  });

  it("drops every namespace it used even when tests fail", async () => {
    const used = new Set<string>();
    const dropped = new Set<string>();
    const sabotaged = faultyBackends((b, namespace) => {
      used.add(namespace);
      b.incr = async () => {
        throw new Error("sabotaged incr");
      };
      const destroy = b.destroy.bind(b);
      b.destroy = async () => {
        await destroy();
        dropped.add(namespace);
      };
    });
    const lines: string[] = [];
    expect(
      await runConformance("faulty://db", (l) => lines.push(l), { backends: [sabotaged] }),
    ).toBe(false);
    expect(lines.at(-1)).toMatch(/^\d+ passed, [1-9]\d* failed$/);
    expect(lines.join("\n")).toMatch(/sabotaged incr/);
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((n) => !dropped.has(n))).toEqual([]);
    expect(lines.join("\n")).toMatch(/namespace conformance_\w+\* dropped/);
  }, 120_000);
});
