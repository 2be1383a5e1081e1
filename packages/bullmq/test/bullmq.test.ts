// @resultstore/bullmq against a real Redis (BullMQ's own queues and workers), on memory:// and on
// two real databases: the record exists before a job is published, every attempt is recorded,
// late and duplicate deliveries are refused by the state rules, chords fire exactly once.
import type { ResultStore } from "@resultstore/core";
import { type Job, type Queue, UnrecoverableError } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type ChordCallbackData,
  chordCallbackId,
  enqueue,
  enqueueChord,
  revokeJob,
  withResultStore,
} from "../src/index.js";
import { eventually, freshStore, gate, Harness, redis, storeTargets } from "./helpers.js";

for (const target of storeTargets()) {
  describe.skipIf(!redis.url || !target.url)(
    `bullmq on ${target.label} ${redis.reason}${target.reason}`,
    () => {
      let store: ResultStore;
      let harness: Harness;
      const status = async (id: string) => (await store.getMeta(id)).status;

      beforeAll(async () => {
        store = await freshStore(target.url as string);
        harness = new Harness(redis.url as string);
      });
      afterAll(async () => {
        await harness?.close();
        await store?.close();
      });
      afterEach(() => {
        vi.restoreAllMocks();
      });

      it("records QUEUED with the caller's metadata before the job is published", async () => {
        const queue = harness.queue();
        const seen: unknown[] = [];
        // A plain worker (no wrapper) that reads the record the moment it gets the job.
        harness.worker(queue, async (job) => {
          seen.push(await store.getMeta(job.id as string));
        });
        const job = await enqueue(
          store,
          queue,
          "reports.render",
          { quarter: "q3" },
          {
            metadata: { tenant: "acme", requestedBy: "u-7" },
          },
        );
        const [meta] = await eventually(async () => seen.length > 0 && seen);
        expect(meta).toMatchObject({
          taskId: job.id,
          status: "QUEUED",
          metadata: { tenant: "acme", requestedBy: "u-7" },
          name: "reports.render",
          args: [{ quarter: "q3" }],
          queue: queue.name,
        });
      });

      it("removes its record again when publishing fails", async () => {
        const queue = harness.queue();
        await queue.close(); // a closed connection: add() rejects
        const jobId = `closed-${Date.now()}`;
        await expect(
          enqueue(store, queue, "x", 1, { jobId, metadata: { a: 1 } }),
        ).rejects.toThrow();
        expect(await status(jobId)).toBe("PENDING");
      });

      it("records STARTED and SUCCESS with the return value; metadata survives", async () => {
        const queue = harness.queue();
        const startedSeen: string[] = [];
        harness.worker(
          queue,
          withResultStore(
            store,
            async (job: Job<{ pages: number }>) => {
              startedSeen.push((await store.getMeta(job.id as string)).status);
              return { pages: job.data.pages * 2 };
            },
            { workerName: "w1" },
          ),
        );
        const job = await enqueue(
          store,
          queue,
          "render",
          { pages: 3 },
          { metadata: { tenant: "acme" } },
        );
        const meta = await store.waitFor(job.id as string, { timeout: 15_000, interval: 50 });
        expect(startedSeen).toEqual(["STARTED"]);
        expect(meta).toMatchObject({
          status: "SUCCESS",
          result: { pages: 6 },
          metadata: { tenant: "acme" },
          name: "render",
          args: [{ pages: 3 }],
          worker: "w1",
          retries: 0,
          queue: queue.name,
        });
        expect(meta.dateDone).toBeInstanceOf(Date);
      });

      it("a retried job runs again after RETRY and ends in FAILURE with the last error and its stack", async () => {
        const queue = harness.queue();
        const attempts: number[] = [];
        const retryGate = gate();
        harness.worker(
          queue,
          withResultStore(store, async (job) => {
            attempts.push(job.attemptsMade);
            if (job.attemptsMade === 1) await retryGate.promise; // hold the second attempt
            throw new TypeError(`bad input on attempt ${job.attemptsMade}`);
          }),
        );
        const job = await enqueue(store, queue, "flaky", null, {
          attempts: 2,
          metadata: { tenant: "acme" },
        });
        const id = job.id as string;
        // The second attempt is under way (held): the record says STARTED again, retries 1.
        await eventually(async () => (await status(id)) === "STARTED" && attempts.length === 2);
        retryGate.open();
        const meta = await store.waitFor(id, { timeout: 15_000, interval: 50 });
        expect(meta).toMatchObject({
          status: "FAILURE",
          result: {
            exc_type: "TypeError",
            exc_message: ["bad input on attempt 1"],
            exc_module: "builtins",
          },
          retries: 1,
          metadata: { tenant: "acme" },
        });
        expect(meta.traceback).toMatch(/^TypeError: bad input on attempt 1\n\s+at /);
        expect(attempts).toEqual([0, 1]);
      });

      it("the RETRY record is written before BullMQ schedules the next attempt", async () => {
        const queue = harness.queue();
        harness.worker(
          queue,
          withResultStore(store, async () => {
            throw new Error("transient");
          }),
        );
        // A long backoff keeps the job delayed: the record must say RETRY meanwhile.
        const job = await enqueue(store, queue, "flaky", null, {
          attempts: 3,
          backoff: { type: "fixed", delay: 60_000 },
        });
        const id = job.id as string;
        await eventually(
          async () =>
            (await job.getState()) === "delayed" || (await queue.getJobState(id)) === "delayed",
        );
        const meta = await store.getMeta(id);
        expect(meta.status).toBe("RETRY");
        expect(meta.result).toMatchObject({ exc_type: "Exception", exc_message: ["transient"] });
        expect(meta.traceback).toMatch(/^Error: transient\n\s+at /);
        expect(meta.retries).toBe(0);
      });

      it("an UnrecoverableError is FAILURE at once, attempts left or not", async () => {
        const queue = harness.queue();
        let runs = 0;
        harness.worker(
          queue,
          withResultStore(store, async () => {
            runs++;
            throw new UnrecoverableError("no point retrying");
          }),
        );
        const job = await enqueue(store, queue, "doomed", null, { attempts: 5 });
        const meta = await store.waitFor(job.id as string, { timeout: 15_000, interval: 50 });
        expect(meta.status).toBe("FAILURE");
        expect(meta.result).toMatchObject({ exc_message: ["no point retrying"] });
        await eventually(async () => (await job.getState()) === "failed");
        expect(runs).toBe(1);
      });

      it("revokeJob: a waiting job is recorded REVOKED and removed; a finished one is left alone", async () => {
        const queue = harness.queue();
        const delayed = await enqueue(store, queue, "later", null, {
          delay: 60_000,
          metadata: { tenant: "acme" },
        });
        const id = delayed.id as string;
        expect((await revokeJob(store, queue, id)).applied).toBe(true);
        expect(await store.getMeta(id)).toMatchObject({
          status: "REVOKED",
          result: { exc_type: "TaskRevokedError", exc_message: ["revoked"] },
          metadata: { tenant: "acme" },
        });
        expect(await queue.getJob(id)).toBeUndefined();

        harness.worker(
          queue,
          withResultStore(store, async () => "done"),
        );
        const finished = await enqueue(store, queue, "now", null);
        await store.waitFor(finished.id as string, { timeout: 15_000, interval: 50 });
        await eventually(async () => (await finished.getState()) === "completed");
        expect((await revokeJob(store, queue, finished.id as string)).applied).toBe(false);
        expect(await status(finished.id as string)).toBe("SUCCESS");
      });

      it("a revoked job a worker picks up anyway is not run, and stays REVOKED", async () => {
        const queue = harness.queue();
        let runs = 0;
        const job = await enqueue(store, queue, "x", null, { metadata: { tenant: "acme" } });
        const id = job.id as string;
        // Recorded REVOKED while still in the queue (as if revokeJob lost the race to a worker).
        await store.markRevoked(id);
        harness.worker(
          queue,
          withResultStore(store, async () => {
            runs++;
            return "ran";
          }),
        );
        await eventually(async () => (await job.getState()) === "failed");
        expect(runs).toBe(0);
        expect((await queue.getJob(id))?.failedReason).toContain("was revoked");
        expect(await store.getMeta(id)).toMatchObject({
          status: "REVOKED",
          metadata: { tenant: "acme" },
        });
      });

      it("worker.cancelJob on a running job is recorded REVOKED (terminated)", async () => {
        const queue = harness.queue();
        const worker = harness.worker(
          queue,
          withResultStore(store, async (_job, _token, signal) => {
            await new Promise((_, reject) => {
              // Cancelled once the test reads STARTED, possibly before this runs (see below).
              if (signal?.aborted) reject(new Error("aborted"));
              signal?.addEventListener("abort", () => reject(new Error("aborted")));
            });
          }),
        );
        const job = await enqueue(store, queue, "long", null, { attempts: 3 });
        const id = job.id as string;
        await eventually(async () => (await status(id)) === "STARTED");
        expect(worker.cancelJob(id, "user asked")).toBe(true);
        const meta = await store.waitFor(id, { timeout: 15_000, interval: 50 });
        expect(meta).toMatchObject({
          status: "REVOKED",
          result: { exc_type: "TaskRevokedError", exc_message: ["terminated"] },
        });
      });

      it("a stalled job redelivered after it completed is not run again and changes nothing", async () => {
        const queue = harness.queue();
        let runs = 0;
        const work = async (job: Job) => {
          runs++;
          return { doubled: (job.data as number) * 2 };
        };
        // Worker A records SUCCESS, then freezes before BullMQ hears of it; without lock renewal its
        // lock expires and BullMQ's stalled check hands the job to worker B.
        const frozen = gate();
        const first = withResultStore(store, work, { workerName: "A" });
        harness.worker(
          queue,
          async (job: Job, token?: string, signal?: AbortSignal) => {
            await first(job, token, signal);
            await frozen.promise;
          },
          { lockDuration: 1000, stalledInterval: 500, skipLockRenewal: true, maxStalledCount: 5 },
        );
        const job = await enqueue(store, queue, "double", 21, { metadata: { tenant: "acme" } });
        const id = job.id as string;
        await store.waitFor(id, { timeout: 15_000, interval: 50 });
        const second = withResultStore(store, work, { workerName: "B" });
        const b = harness.worker(queue, second, { stalledInterval: 500 });
        const completed = new Promise<unknown>((resolve) =>
          b.on("completed", (_j, r) => resolve(r)),
        );
        expect(await completed).toEqual({ doubled: 42 });
        frozen.open();
        expect(runs).toBe(1);
        expect(await store.getMeta(id)).toMatchObject({
          status: "SUCCESS",
          result: { doubled: 42 },
          worker: "A",
          metadata: { tenant: "acme" },
        });
      });

      it("a duplicate delivery of a finished job returns the stored result; a late STARTED is refused", async () => {
        const queue = harness.queue();
        let runs = 0;
        const processor = withResultStore(store, async () => ++runs);
        harness.worker(queue, processor);
        const job = await enqueue(store, queue, "once", null);
        const id = job.id as string;
        await store.waitFor(id, { timeout: 15_000, interval: 50 });
        const again = (await queue.getJob(id)) as Job;
        await expect(processor(again, "token")).resolves.toBe(1);
        expect(runs).toBe(1);
        expect((await store.markStarted(id)).applied).toBe(false);
        expect(await status(id)).toBe("SUCCESS");
      });

      it("a chord's callback runs exactly once, with a member delivered twice", async () => {
        const queue = harness.queue("chord");
        const callbackQueue = harness.queue("callback");
        const queues = new Map([
          [queue.name, queue],
          [callbackQueue.name, callbackQueue],
        ]);
        const chordQueue = (name: string) => queues.get(name) as Queue;
        const deliveries = new Map<number, number>();
        const firstDelivery = gate();
        const lastMember = gate();
        const work = async (job: Job<number>) => {
          const n = (deliveries.get(job.data) ?? 0) + 1;
          deliveries.set(job.data, n);
          // Member 1's first delivery finishes only after its redelivery did; member 4 finishes
          // last of all. Counting that duplicate would complete the chord without member 4.
          if (job.data === 1 && n === 1) await firstDelivery.promise;
          if (job.data === 4) await lastMember.promise;
          return job.data * 10;
        };
        // Each member's chord calls, counted once they returned.
        const chordCalls = new Map<string, number>();
        const onChordPartReturn = store.onChordPartReturn.bind(store);
        vi.spyOn(store, "onChordPartReturn").mockImplementation(async (part, callback) => {
          const progress = await onChordPartReturn(part, callback);
          chordCalls.set(part.taskId, (chordCalls.get(part.taskId) ?? 0) + 1);
          return progress;
        });
        // Worker A holds the first delivery without renewing its lock: BullMQ redelivers it to B.
        harness.worker(queue, withResultStore(store, work, { chordQueue, workerName: "A" }), {
          lockDuration: 1000,
          stalledInterval: 500,
          skipLockRenewal: true,
        });
        const callbacks: unknown[] = [];
        harness.worker(
          callbackQueue,
          withResultStore(store, async (job) => {
            callbacks.push(job.data);
            return "summed";
          }),
        );
        const { groupId, callbackId, members } = await enqueueChord(store, queue, {
          members: [1, 2, 3, 4].map((n) => ({ name: "part", data: n, metadata: { part: n } })),
          callback: {
            name: "sum",
            data: { label: "total" },
            queue: callbackQueue.name,
            metadata: { tenant: "acme" },
          },
        });
        expect(callbackId).toBe(chordCallbackId(groupId));
        const duplicateId = members[0]?.id as string;
        // A has the first member (held); B takes the rest and, once A's lock expired, member 1 again.
        await eventually(async () => deliveries.get(1) === 1);
        harness.worker(queue, withResultStore(store, work, { chordQueue, workerName: "B" }), {
          stalledInterval: 500,
          concurrency: 4,
        });
        await eventually(
          async () => deliveries.get(1) === 2 && (await status(duplicateId)) === "SUCCESS",
        );
        // The held first delivery finishes now: its SUCCESS is refused and its count is a duplicate.
        firstDelivery.open();
        await eventually(async () => chordCalls.get(duplicateId) === 2);
        expect(callbacks).toEqual([]);
        expect(await status(callbackId)).toBe("QUEUED");
        lastMember.open();
        const meta = await store.waitFor(callbackId, { timeout: 30_000, interval: 50 });
        expect(meta).toMatchObject({
          status: "SUCCESS",
          result: "summed",
          metadata: { tenant: "acme" },
        });
        await new Promise((r) => setTimeout(r, 1000)); // room for a second callback, which must not come
        expect(callbacks).toEqual([{ results: [10, 20, 30, 40], data: { label: "total" } }]);
        expect((await store.getMeta(duplicateId)).worker).toBe("B");
      });

      it("a chord member's late duplicate that fails after the member succeeded leaves the chord alone", async () => {
        const queue = harness.queue("chord");
        const callbackQueue = harness.queue("callback");
        const chordQueue = () => callbackQueue;
        harness.worker(
          callbackQueue,
          withResultStore(store, async (job: Job<ChordCallbackData>) => job.data.results),
        );
        const deliveries = new Map<number, number>();
        const firstDelivery = gate();
        const lastMember = gate();
        let firstDeliveryEnded = false;
        const work = async (job: Job<number>) => {
          const n = (deliveries.get(job.data) ?? 0) + 1;
          deliveries.set(job.data, n);
          if (job.data === 1 && n === 1) {
            await firstDelivery.promise;
            throw new Error("late duplicate broke");
          }
          if (job.data === 2) await lastMember.promise;
          return job.data * 10;
        };
        // A holds member 1's first delivery without renewing its lock; B gets the redelivery.
        const a = withResultStore(store, work, { chordQueue, workerName: "A" });
        harness.worker(
          queue,
          async (job: Job<number>, token?: string, signal?: AbortSignal) => {
            try {
              return await a(job, token, signal);
            } finally {
              firstDeliveryEnded = true;
            }
          },
          { lockDuration: 1000, stalledInterval: 500, skipLockRenewal: true },
        );
        const { callbackId, members } = await enqueueChord(store, queue, {
          members: [1, 2].map((n) => ({ name: "part", data: n })),
          callback: { name: "sum", queue: callbackQueue.name },
        });
        const first = members[0]?.id as string;
        await eventually(async () => deliveries.get(1) === 1);
        harness.worker(queue, withResultStore(store, work, { chordQueue, workerName: "B" }), {
          stalledInterval: 500,
          concurrency: 4,
        });
        await eventually(async () => (await status(first)) === "SUCCESS");
        firstDelivery.open();
        await eventually(async () => firstDeliveryEnded);
        // Its FAILURE was refused (SUCCESS is final), so the chord was not failed either.
        expect(await store.getMeta(first)).toMatchObject({ status: "SUCCESS", result: 10 });
        expect(await status(callbackId)).toBe("QUEUED");
        lastMember.open();
        const meta = await store.waitFor(callbackId, { timeout: 15_000, interval: 50 });
        expect(meta).toMatchObject({ status: "SUCCESS", result: [10, 20] });
      });

      it("a chord member's final failure fails the callback with Celery's ChordError", async () => {
        const queue = harness.queue("chord");
        const chordQueue = () => queue;
        harness.worker(
          queue,
          withResultStore(
            store,
            async (job: Job<number>) => {
              if (job.data === 2) throw new Error("member broke");
              return job.data;
            },
            { chordQueue },
          ),
        );
        const { callbackId, members } = await enqueueChord(store, queue, {
          members: [1, 2].map((n) => ({ name: "part", data: n })),
          callback: { name: "sum" },
        });
        const meta = await store.waitFor(callbackId, { timeout: 15_000, interval: 50 });
        expect(meta.status).toBe("FAILURE");
        expect(meta.result).toEqual({
          exc_type: "ChordError",
          exc_message: [`Dependency ${members[1]?.id} raised Error("member broke")`],
          exc_module: "celery.exceptions",
        });
      });

      it("a revoked or cancelled chord member fails the callback with a ChordError", async () => {
        const queue = harness.queue("chord");
        const chordQueue = () => queue;
        const worker = harness.worker(
          queue,
          withResultStore(
            store,
            async (job: Job<number>, _token, signal) => {
              // Member 2 runs until it is cancelled. The test cancels once it reads STARTED, which
              // can be before this processor runs: an already aborted signal fires no event.
              if (job.data === 2) {
                await new Promise((_, reject) => {
                  if (signal?.aborted) reject(new Error("aborted"));
                  signal?.addEventListener("abort", () => reject(new Error("aborted")));
                });
              }
              return job.data;
            },
            { chordQueue },
          ),
        );
        const running = await enqueueChord(store, queue, {
          members: [1, 2].map((n) => ({ name: "part", data: n })),
          callback: { name: "sum" },
        });
        const cancelled = running.members[1]?.id as string;
        await eventually(async () => (await status(cancelled)) === "STARTED");
        worker.cancelJob(cancelled);
        expect(
          (await store.waitFor(running.callbackId, { timeout: 15_000, interval: 50 })).result,
        ).toEqual({
          exc_type: "ChordError",
          exc_message: [`Dependency ${cancelled} raised TaskRevokedError("terminated")`],
          exc_module: "celery.exceptions",
        });

        // A member revoked before any worker took it (no worker consumes this queue).
        const idle = harness.queue("idle");
        const waiting = await enqueueChord(store, idle, {
          members: [1, 2].map((n) => ({ name: "part", data: n })),
          callback: { name: "sum" },
        });
        const revoked = waiting.members[0]?.id as string;
        expect((await revokeJob(store, idle, revoked)).applied).toBe(true);
        expect((await store.getMeta(waiting.callbackId)).result).toMatchObject({
          exc_type: "ChordError",
          exc_message: [`Dependency ${revoked} raised TaskRevokedError("revoked")`],
        });
      });
    },
  );
}
