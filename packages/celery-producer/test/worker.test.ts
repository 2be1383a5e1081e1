// End to end: Node records a task QUEUED with metadata and publishes it to Redis (sendTask); a REAL
// Celery worker (pinned venv, Celery 5.6.3) runs it and stores the outcome with Celery's OWN result
// backend on each database; Node reads it back with waitFor. What the worker's writes do to the
// record we created is measured here, and each database's row of the README table must say exactly
// that (RESULTSTORE_UPDATE_README=1 rewrites the rows from what this run saw).
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type CeleryWorker, ensureCeleryEnv, startCeleryWorker } from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { type TaskMeta, WaitTimeoutError } from "@resultstore/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendTask } from "../src/index.js";
import { type Database, databases, destroy, freshNamespace, type Pairing } from "./databases.js";

const redis = serverTarget("REDIS");
const README = fileURLToPath(new URL("../README.md", import.meta.url));
const TABLE_START = "<!-- e2e-table:start -->";
const TABLE_END = "<!-- e2e-table:end -->";

/** The worker's settings beyond its backend's: `result_extended`, as a team that reads records sets it. */
const WORKER_SETTINGS = { result_extended: true };
const METADATA = { tenant: "acme", traceId: "tr-42" };

/** What one task left in our record. */
interface Observation {
  /** What the worker logged for the task: succeeded, raised, error, exited. */
  worker: string;
  /** What waitFor answered: the state and result, or a timeout on the state we left. */
  read: string;
  metadata: "kept" | "erased";
  /** Extended fields on the record afterwards: ours from QUEUED, and the worker's `worker`. */
  extended: string;
}

// The venv is built on first use (pip; minutes on a cold cache): once, before any worker starts.
beforeAll(async () => {
  if (redis.url) await ensureCeleryEnv({ log: (line) => console.error(`[celery-venv] ${line}`) });
}, 900_000);

for (const db of databases()) {
  describe.skipIf(!redis.url || !db.target.url)(
    `a real Celery worker storing to ${db.name} ${redis.reason}${db.target.reason}`,
    () => {
      const queue = `rs-e2e-${db.name.replace(/[^a-z0-9]+/g, "-")}-${freshNamespace()}`;
      const seen: { success?: Observation; failure?: Observation } = {};
      let pairing: Pairing;
      let worker: CeleryWorker | undefined;
      let broker: Redis;

      /** A running worker: the first, or a new one when the last died on a task. */
      const liveWorker = async () => {
        if (!worker?.alive()) {
          worker = await startCeleryWorker({
            url: pairing.celeryUrl,
            broker: redis.url as string,
            queue,
            settings: { ...pairing.settings, ...WORKER_SETTINGS },
          });
        }
        return worker;
      };

      beforeAll(async () => {
        broker = new Redis(redis.url as string);
        pairing = await db.pair(db.target.url as string, freshNamespace());
        await pairing.store.getMeta("warm-up"); // our backend creates its table/index first
        await liveWorker();
      }, 90_000);
      afterAll(async () => {
        await worker?.stop();
        await broker?.del(queue, `_kombu.binding.${queue}`);
        await broker?.quit();
        if (pairing) await destroy(pairing.store);
      });

      const run = async (name: string, args: unknown[]): Promise<Observation> => {
        const { store } = pairing;
        const celery = await liveWorker();
        const taskId = await sendTask(store, broker, name, { args, queue, metadata: METADATA });
        const log = await celery.waitForTask(taskId);
        const waited = await store
          .waitFor(taskId, { timeout: 3_000, interval: 100 })
          .catch((e) => (e instanceof WaitTimeoutError ? e : Promise.reject(e)));
        const meta = await store.getMeta(taskId);
        return {
          worker: log.outcome,
          read: waited instanceof WaitTimeoutError ? `timeout: stays ${meta.status}` : readOf(meta),
          metadata:
            meta.metadata.tenant === "acme" && meta.metadata.traceId === "tr-42"
              ? "kept"
              : "erased",
          extended: extendedOf(meta),
        };
      };

      it("e2e.add(2, 3): what waitFor returns after the worker's SUCCESS", async () => {
        seen.success = await run("e2e.add", [2, 3]);
        // Whenever the worker's write landed, it is read as Celery wrote it.
        if (seen.success.read.startsWith("SUCCESS")) expect(seen.success.read).toBe("SUCCESS 5");
      });

      it("e2e.fail('boom'): what waitFor returns after the worker's FAILURE", async () => {
        seen.failure = await run("e2e.fail", ["boom"]);
        if (seen.failure.read.startsWith("FAILURE")) {
          expect(seen.failure.read).toBe('FAILURE ValueError("boom") + traceback');
        }
      });

      it("the README's row says what happened", () => {
        expect(seen.success && seen.failure, "both tasks ran").toBeTruthy();
        const row = renderRow(db, seen as Required<typeof seen>);
        if (process.env.RESULTSTORE_UPDATE_README) return writeRow(db.name, row);
        expect(ownCells(readmeRow(db.name))).toBe(row);
      });
    },
  );
}

function readOf(meta: TaskMeta): string {
  if (meta.status === "SUCCESS") return `SUCCESS ${JSON.stringify(meta.result)}`;
  const exc = meta.result as { exc_type?: string; exc_message?: unknown[] } | null;
  const traceback = meta.traceback?.includes("ValueError: boom") ? " + traceback" : "";
  return `${meta.status} ${exc?.exc_type}(${JSON.stringify(exc?.exc_message?.[0])})${traceback}`;
}

function extendedOf(meta: TaskMeta): string {
  const ours = (["name", "args", "kwargs", "queue"] as const).filter((k) => meta[k] !== undefined);
  const theirs = meta.worker?.startsWith("e2e-") ? ["worker"] : [];
  return [...ours, ...theirs].join(", ") || "none";
}

const both = (a: string, b: string) => (a === b ? a : `${a} / ${b}`);

function renderRow(db: Database, { success, failure }: Record<"success" | "failure", Observation>) {
  const cells = [
    db.name,
    db.celeryBackend,
    success.read,
    failure.read,
    both(success.metadata, failure.metadata),
    both(success.extended, failure.extended),
    both(success.worker, failure.worker),
  ];
  return `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
}

function tableLines(): { text: string; start: number; end: number; lines: string[] } {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${TABLE_START} … ${TABLE_END}`);
  return {
    text,
    start,
    end,
    lines: text
      .slice(start + TABLE_START.length, end)
      .trim()
      .split("\n"),
  };
}

const rowOf = (lines: string[], name: string) =>
  lines.findIndex((l) => l.startsWith(`| ${name} |`));

function readmeRow(name: string): string | undefined {
  const { lines } = tableLines();
  return lines[rowOf(lines, name)];
}

/**
 * The row's cells this test renders (the first OWN_CELLS); the column after them, "with
 * resultstore-celery", is written and checked by packages/celery-python's worker test.
 */
const OWN_CELLS = 7;
const cellsOf = (row: string | undefined) => (row ?? "").replace(/^\| | \|$/g, "").split(" | ");
const ownCells = (row: string | undefined) =>
  row === undefined ? undefined : `| ${cellsOf(row).slice(0, OWN_CELLS).join(" | ")} |`;

function writeRow(name: string, row: string): void {
  const { text, start, end, lines } = tableLines();
  const i = rowOf(lines, name);
  const theirs = i >= 0 ? cellsOf(lines[i]).slice(OWN_CELLS) : [];
  const full = theirs.length > 0 ? `${row.slice(0, -2)} | ${theirs.join(" | ")} |` : row;
  if (i >= 0) lines[i] = full;
  else lines.push(full);
  writeFileSync(
    README,
    `${text.slice(0, start + TABLE_START.length)}\n${lines.join("\n")}\n${text.slice(end)}`,
  );
}
