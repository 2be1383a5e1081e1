/** The producer side: a job's record exists, QUEUED with the caller's metadata, before it is published. */
import { randomUUID } from "node:crypto";
import { REVOKED, type ResultStore, type StoreOutcome } from "@resultstore/core";
import { validateId } from "@resultstore/core/backend";
import type { Job, Queue } from "bullmq";
import { chordMemberFailed, revokedError } from "./chord.js";
import { publishSpan, withTraceContext } from "./telemetry.js";
import type { EnqueueOptions } from "./types.js";

/**
 * Records the job QUEUED (metadata, name, `args: [data]`, queue) and then adds it to `queue` with
 * the same id, so no worker can run it before its record exists. If publishing fails, the record
 * written here is removed again and the error is rethrown: the task never existed.
 */
export async function enqueue<D>(
  store: ResultStore,
  queue: Queue,
  name: string,
  data: D,
  options: EnqueueOptions = {},
): Promise<Job> {
  const { metadata, jobId = randomUUID(), ...jobOptions } = options;
  validateId(jobId);
  return publishSpan(store, queue.name, jobId, async () => {
    const queued = await store.markQueued(jobId, {
      metadata,
      name,
      args: [data],
      queue: queue.name,
    });
    try {
      return await queue.add(name, data, withTraceContext(store, { ...jobOptions, jobId }));
    } catch (error) {
      // Only a record this call created is removed; a refused QUEUED means one existed already.
      if (queued.applied) await store.forget(jobId).catch(() => {});
      throw error;
    }
  });
}

/** BullMQ states in which a job is finished: revoking it would rewrite history. */
const FINISHED = new Set(["completed", "failed"]);

/**
 * Revokes a job that has not finished: records REVOKED (Celery's `TaskRevokedError(reason)`) first,
 * so a worker that picks it up meanwhile refuses to run it, then removes it from the queue. A job a
 * worker is running cannot be removed (it is locked): it runs on, and its own final state, written
 * later, replaces REVOKED. To stop a running job use `worker.cancelJob(id)` in the worker's process;
 * the wrapper records that as REVOKED "terminated". A finished job is left alone (`applied: false`).
 * A revoked chord member fails the chord's callback with a ChordError, as a failed one does.
 */
export async function revokeJob(
  store: ResultStore,
  queue: Queue,
  jobId: string,
  reason = "revoked",
): Promise<StoreOutcome> {
  validateId(jobId);
  const job = await queue.getJob(jobId);
  const state = job ? await job.getState() : "unknown";
  if (FINISHED.has(state)) return { taskId: jobId, status: REVOKED, applied: false };
  const outcome = await store.markRevoked(jobId, reason);
  if (outcome.applied) await chordMemberFailed(store, jobId, revokedError(reason));
  if (job && state !== "active") {
    // Gone already (a worker took it, or it was removed) is fine: the record says REVOKED.
    await job.remove().catch(() => {});
  }
  return outcome;
}
