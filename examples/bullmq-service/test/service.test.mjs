// Drives the example over HTTP, as a user would: `node src/main.mjs` in a child process, against the
// real Redis and Elasticsearch from `npm run services` (jobs recorded in an index of this run's own).
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { serverTarget } from "@resultstore/conformance";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const redis = serverTarget("REDIS");
const elasticsearch = serverTarget("ELASTICSEARCH");
const MAIN = fileURLToPath(new URL("../src/main.mjs", import.meta.url));

describe.skipIf(!redis.url || !elasticsearch.url)(
  `the example service over HTTP ${redis.reason}${elasticsearch.reason}`,
  () => {
    const index = `example_${randomUUID().slice(0, 8)}`;
    const queueName = `example-${randomUUID().slice(0, 8)}`;
    let child;
    let base;

    beforeAll(async () => {
      child = spawn(process.execPath, [MAIN], {
        env: {
          ...process.env,
          RESULT_BACKEND_URL: `${elasticsearch.url}/${index}`,
          REDIS_URL: redis.url,
          PORT: "0",
          QUEUE: queueName,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      base = await new Promise((resolve, reject) => {
        const onData = (chunk) => {
          output += chunk;
          const listening = output.match(/listening on (http:\/\/\S+)/);
          if (listening) resolve(listening[1]);
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", onData);
        child.on("exit", (code) => reject(new Error(`service exited ${code}:\n${output}`)));
      });
    });

    afterAll(async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child.on("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      const queue = new Queue(queueName, { connection: connectionOf(redis.url) });
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await fetch(`${elasticsearch.url.replace(/^elasticsearch:/, "http:")}/${index}`, {
        method: "DELETE",
      }).catch(() => {});
    });

    const call = async (method, path, body) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };

    /** GETs the job until its status is one of `states`. */
    const until = async (id, states) => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const { body } = await call("GET", `/jobs/${id}`);
        if (states.includes(body.status)) return body;
        if (Date.now() > deadline) throw new Error(`job ${id} stuck in ${body.status}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    it("POST starts a job with metadata; GET reads its state, result and metadata", async () => {
      const metadata = { tenant: "acme", requestedBy: "u-7" };
      const post = await call("POST", "/jobs", {
        name: "reports.render",
        data: { quarter: "q3", ms: 300 },
        metadata,
      });
      expect(post.status).toBe(202);
      expect(post.body.status).toBe("QUEUED");
      // Recorded before it was published: readable at once, with its metadata.
      const first = await call("GET", `/jobs/${post.body.id}`);
      expect(first.status).toBe(200);
      expect(first.body.metadata).toEqual(metadata);
      expect(["QUEUED", "STARTED"]).toContain(first.body.status);

      const done = await until(post.body.id, ["SUCCESS", "FAILURE"]);
      expect(done).toMatchObject({
        status: "SUCCESS",
        result: { quarter: "q3", pages: 12, url: "/reports/q3.pdf" },
        error: null,
        metadata,
        name: "reports.render",
        data: { quarter: "q3", ms: 300 },
        retries: 0,
      });
      expect(done.worker).toMatch(/^bullmq@/);
      expect(Date.parse(done.finishedAt)).not.toBeNaN();
    });

    it("a failing job is retried, then reads as FAILURE with the error and its stack", async () => {
      const post = await call("POST", "/jobs", {
        name: "reports.broken",
        data: { reason: "no template" },
        attempts: 2,
        metadata: { tenant: "acme" },
      });
      const done = await until(post.body.id, ["SUCCESS", "FAILURE"]);
      expect(done).toMatchObject({
        status: "FAILURE",
        result: null,
        error: { exc_type: "Exception", exc_message: ["no template"], exc_module: "builtins" },
        retries: 1,
        metadata: { tenant: "acme" },
      });
      expect(done.traceback).toContain("Error: no template");
    });

    it("bad input is refused with 400 and records nothing; unknown ids are 404", async () => {
      expect((await call("POST", "/jobs", { name: "nope" })).status).toBe(400);
      const badMetadata = await call("POST", "/jobs", {
        name: "reports.render",
        metadata: { $where: "1" },
      });
      expect(badMetadata.status).toBe(400);
      expect(badMetadata.body.error).toContain("$where");
      const queue = new Queue(queueName, { connection: connectionOf(redis.url) });
      const counts = await queue.getJobCounts("wait", "active", "delayed");
      await queue.close();
      expect(counts).toEqual({ wait: 0, active: 0, delayed: 0 });
      expect((await call("GET", `/jobs/${randomUUID()}`)).status).toBe(404);
      expect((await call("GET", "/elsewhere")).status).toBe(404);
    });

    it("DELETE revokes a job that has not run, and refuses one that finished", async () => {
      const later = await call("POST", "/jobs", {
        name: "reports.render",
        delayMs: 60_000,
        metadata: { tenant: "acme" },
      });
      expect(await call("DELETE", `/jobs/${later.body.id}`)).toEqual({
        status: 200,
        body: { id: later.body.id, status: "REVOKED" },
      });
      expect((await call("GET", `/jobs/${later.body.id}`)).body).toMatchObject({
        status: "REVOKED",
        error: { exc_type: "TaskRevokedError", exc_message: ["revoked"] },
        metadata: { tenant: "acme" },
      });

      const slow = await call("POST", "/jobs", {
        name: "reports.render",
        data: { quarter: "q4", ms: 10 },
      });
      await until(slow.body.id, ["SUCCESS"]);
      expect((await call("DELETE", `/jobs/${slow.body.id}`)).status).toBe(409);
      expect((await call("GET", `/jobs/${slow.body.id}`)).body.status).toBe("SUCCESS");
    });
  },
);

function connectionOf(url) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}
