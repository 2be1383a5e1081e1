/**
 * The dashboard's server without a browser: what each route answers, that it only reads, who it
 * lets in (Host header, token, cookie), and the `ui` command's refusals. The page itself is tested
 * in Chromium by test/browser/.
 */
import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { fileURLToPath } from "node:url";
import { ConfigurationError, MemoryBackend, ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { childTaskIds } from "../src/dashboard/children.js";
import { type Dashboard, EXIT, runCli, startDashboard } from "../src/index.js";
import { capture } from "./helpers.js";

const TOKEN = "correct-horse-battery-staple";
const backend = new MemoryBackend();
const store = new ResultStore(backend);
let open: Dashboard;
let locked: Dashboard;

/** A raw GET (fetch would not let the test set Host), with the answer's status, headers and text. */
function get(
  dashboard: Dashboard,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const address = new URL(dashboard.url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: address.hostname, port: address.port, path, method, headers },
      (response) => {
        let text = "";
        response.on("data", (chunk) => {
          text += chunk;
        });
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text }),
        );
      },
    );
    request.on("error", reject);
    request.end();
  });
}

beforeAll(async () => {
  await store.markQueued("a1", { name: "tasks.upload", metadata: { tenant: "acme", user: 42 } });
  await store.markSuccess("a1", { rows: 3 }, { request: { groupId: "g1" } });
  await store.markFailure("b2", new Error("disk full"), { metadata: { tenant: "zeta" } });
  await store.saveGroup("g1", ["a1", "b2"]);
  open = await startDashboard(store, { port: 0, url: "mongodb://admin:s3cret-pass@db:27017" });
  locked = await startDashboard(store, { port: 0, token: TOKEN });
});

afterAll(async () => {
  await open.close();
  await locked.close();
});

describe("the dashboard's API", () => {
  it("serves the page and its own assets with a strict content security policy", async () => {
    const page = await get(open, "/");
    expect(page.status).toBe(200);
    expect(page.text).toContain('<script type="module" src="/assets/app.js">');
    expect(page.text).not.toMatch(/https?:\/\//); // nothing from a CDN
    expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    for (const asset of ["app.js", "app.css", "favicon.svg"])
      expect((await get(open, `/assets/${asset}`)).status).toBe(200);
    expect((await get(open, "/assets/../package.json")).status).toBe(404);
    expect((await get(open, "/assets/%2e%2e%2fpackage.json")).status).toBe(404);
  });

  it("counts by state, finds by metadata, and shows a task with its group", async () => {
    const stats = JSON.parse((await get(open, "/api/stats")).text);
    expect(stats.counts).toMatchObject({ SUCCESS: 1, FAILURE: 1, PENDING: 0 });
    expect(stats.total).toBe(2);
    const acme = JSON.parse((await get(open, "/api/tasks?meta=tenant%3Dacme")).text);
    expect(acme.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(["a1"]);
    const byNumber = JSON.parse((await get(open, "/api/tasks?meta=user%3D42")).text);
    expect(byNumber.tasks).toHaveLength(1); // 42 compares as a number, as `ls --meta` does
    const failed = JSON.parse((await get(open, "/api/tasks?state=failure&limit=1")).text);
    expect(failed.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(["b2"]);
    const view = JSON.parse((await get(open, "/api/tasks/a1")).text);
    expect(view.task).toMatchObject({ taskId: "a1", status: "SUCCESS", result: { rows: 3 } });
    expect(view.group).toEqual({
      groupId: "g1",
      size: 2,
      members: [
        { taskId: "a1", status: "SUCCESS" },
        { taskId: "b2", status: "FAILURE" },
      ],
    });
  });

  it("pages with the cursor find made", async () => {
    const first = JSON.parse((await get(open, "/api/tasks?limit=1&order=oldest")).text);
    expect(first.cursor).toEqual(expect.any(String));
    const next = await get(open, `/api/tasks?limit=1&order=oldest&cursor=${first.cursor}`);
    const second = JSON.parse(next.text);
    expect(
      [...first.tasks, ...second.tasks].map((t: { taskId: string }) => t.taskId).sort(),
    ).toEqual(["a1", "b2"]);
    expect(second.cursor).toBeNull();
  });

  it("answers bad filters, ids and cursors with 400 and a message", async () => {
    for (const path of [
      "/api/tasks?limit=0",
      "/api/tasks?limit=ten",
      "/api/tasks?order=sideways",
      "/api/tasks?meta=novalue",
      "/api/tasks?since=yesterday",
      "/api/tasks?since=1h&after=2026-01-01T00:00Z",
      "/api/tasks?cursor=forged",
      "/api/stats?after=last-tuesday",
      `/api/tasks/${"x".repeat(300)}`,
    ]) {
      const answer = await get(open, path);
      expect(answer.status, path).toBe(400);
      expect(JSON.parse(answer.text).error, path).toEqual(expect.any(String));
    }
  });

  it("only reads: every other method is refused and nothing changes", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const answer = await get(open, "/api/tasks/a1", {}, method);
      expect(answer.status).toBe(405);
      expect(answer.headers.allow).toBe("GET, HEAD");
    }
    expect((await store.getMeta("a1")).status).toBe("SUCCESS");
  });

  it("masks the store URL's secrets in what it shows", async () => {
    const info = JSON.parse((await get(open, "/api/info")).text);
    expect(info.url).not.toContain("s3cret-pass");
    expect(info.backend).toBe("memory");
  });
});

describe("who the dashboard lets in", () => {
  it("refuses a Host that is not its own, so a rebinding DNS name cannot reach it", async () => {
    expect((await get(open, "/api/stats", { host: "attacker.example:80" })).status).toBe(421);
    const port = new URL(open.url).port;
    expect((await get(open, "/api/stats", { host: `localhost:${port}` })).status).toBe(200);
  });

  it("with a token: 401 without it, a cookie from the first visit, the bearer header", async () => {
    expect(locked.url).toContain(`?token=${TOKEN}`);
    expect((await get(locked, "/")).status).toBe(401);
    expect((await get(locked, "/api/stats")).status).toBe(401);
    expect((await get(locked, "/?token=wrong-token-of-some-length")).status).toBe(401);
    const first = await get(locked, `/?token=${TOKEN}`);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe("/");
    const cookie = String(first.headers["set-cookie"]).split(";")[0] as string;
    expect(String(first.headers["set-cookie"])).toContain("HttpOnly");
    expect((await get(locked, "/api/stats", { cookie })).status).toBe(200);
    expect((await get(locked, "/api/stats", { authorization: `Bearer ${TOKEN}` })).status).toBe(
      200,
    );
    expect((await get(locked, "/api/stats", { authorization: "Bearer nope" })).status).toBe(401);
  });

  it("will not bind another address without a token, nor take a short one", async () => {
    await expect(startDashboard(store, { port: 0, host: "0.0.0.0" })).rejects.toThrow(
      ConfigurationError,
    );
    await expect(startDashboard(store, { port: 0, token: "short" })).rejects.toThrow(
      /at least 16 characters/,
    );
  });

  it("`resultstore ui` refuses the same on the command line (exit 2)", async () => {
    for (const argv of [
      ["ui", "--url", "shared://x", "--host", "0.0.0.0"],
      ["ui", "--url", "shared://x", "--token", "short"],
      ["ui", "--url", "shared://x", "--port", "70000"],
      ["ui", "--url", "shared://x", "--token", TOKEN, "--new-token"],
    ]) {
      const io = capture();
      expect(await runCli(argv, io), argv.join(" ")).toBe(EXIT.usage);
      expect(io.stderr.join("\n")).toContain("usage: resultstore ui");
    }
  });

  it("`resultstore ui --new-token` serves until SIGTERM, then exits 0", async () => {
    const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
    const child = spawn(process.execPath, [
      bin,
      "ui",
      "--url",
      "memory://",
      "--port",
      "0",
      "--new-token",
    ]);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk) => {
          out += chunk;
          const line = out.split("\n").find((l) => l.startsWith("http://"));
          if (line) resolve(line.trim());
        });
        child.on("exit", (code) =>
          reject(new Error(`ui exited ${code} before printing its address`)),
        );
      });
      const token = new URL(address).searchParams.get("token") as string;
      expect(token.length).toBeGreaterThanOrEqual(16);
      const answer = await fetch(new URL("/api/info", address), {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(answer.status).toBe(200);
      expect((await fetch(new URL("/api/info", address))).status).toBe(401);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  }, 30_000);
});

describe("children", () => {
  it("reads task ids out of Celery's result tuples, a group's members included", () => {
    const children = [
      [["c1", null], null],
      [
        ["group-id", null],
        [
          [["m1", null], null],
          [["m2", null], null],
        ],
      ],
    ];
    expect(childTaskIds(children)).toEqual(["c1", "m1", "m2"]);
    expect(childTaskIds(null)).toEqual([]);
    expect(childTaskIds([[["only", ["parent", null]], null]])).toEqual(["only"]);
  });
});
