/** The worker side: a processor decorator that records each attempt under the state rules. */
import { hostname } from "node:os";
import { REVOKED, type ResultStore, SUCCESS, type TaskRequestInfo } from "@resultstore/core";
import {
  DelayedError,
  type Job,
  type Processor,
  RateLimitError,
  UnrecoverableError,
  WaitingChildrenError,
  WaitingError,
} from "bullmq";
import { chordMemberFailed, chordMemberSucceeded, revokedError } from "./chord.js";
import { processSpan } from "./telemetry.js";
import type { TrackOptions } from "./types.js";

/** Errors BullMQ uses for flow control (move the job elsewhere); the attempt has not failed. */
const CONTROL_FLOW = [DelayedError, WaitingChildrenError, WaitingError, RateLimitError];

/**
 * Wraps a BullMQ processor so that every attempt is recorded in `store`, the job id being the task
 * id: STARTED when it begins; SUCCESS with the return value; RETRY with the error when BullMQ will
 * try again; FAILURE with the error and its stack on the last attempt or an UnrecoverableError;
 * REVOKED ("terminated") when the job was cancelled through `worker.cancelJob`.
 *
 * A delivery whose STARTED the state rules refuse (the record is already SUCCESS, FAILURE or
 * REVOKED: a stalled job redelivered after it finished, a duplicate, a revoked job) does not run the
 * processor again: it returns the stored result, or fails the job with an UnrecoverableError for a
 * stored FAILURE or REVOKED. Nothing it does changes the record.
 *
 * When the store is traced (OpenTelemetry, see core's README), each delivery runs in a CONSUMER
 * span `process <queue>` whose parent is the trace context the job carries (`enqueue` puts it
 * there), so the processor's spans and the store's join the producer's trace.
 */
export function withResultStore<D = unknown, R = unknown, N extends string = string>(
  store: ResultStore,
  processor: Processor<D, R, N>,
  options: TrackOptions = {},
): Processor<D, R, N> {
  const worker = options.workerName ?? `bullmq@${hostname()}`;
  return (job, token, signal) => processSpan(store, job, () => attempt(job, token, signal));
  async function attempt(...[job, token, signal]: Parameters<Processor<D, R, N>>): Promise<R> {
    const taskId = jobIdOf(job);
    const request: TaskRequestInfo = {
      name: job.name,
      worker,
      retries: job.attemptsMade,
      queue: job.queueName,
    };
    const started = await store.markStarted(taskId, undefined, { request });
    if (!started.applied) return (await settledResult(store, taskId)) as R;

    let result: R;
    try {
      result = await processor(job, token, signal);
    } catch (error) {
      if (CONTROL_FLOW.some((type) => error instanceof type)) throw error;
      // A chord hears of a member's end only from the write that recorded it: a duplicate delivery
      // failing after the member succeeded is refused by the state rules and must not fail it.
      if (signal?.aborted) {
        const revoked = await store.markRevoked(taskId, "terminated", { request });
        if (revoked.applied) await chordMemberFailed(store, taskId, revokedError("terminated"));
      } else if (willRetry(job, error)) {
        await store.markRetry(taskId, error, { request, traceback: stackOf(error) });
      } else {
        const failed = await store.markFailure(taskId, error, { request });
        if (failed.applied) await chordMemberFailed(store, taskId, error);
      }
      throw error;
    }
    await store.markSuccess(taskId, result, { request });
    await chordMemberSucceeded(store, taskId, options.chordQueue);
    return result;
  }
}

function jobIdOf(job: Job): string {
  if (!job.id) throw new UnrecoverableError("[resultstore] [bullmq] The job has no id.");
  return job.id;
}

/** BullMQ retries unless the error is unrecoverable or this was the last allowed attempt. */
function willRetry(job: Job, error: unknown): boolean {
  if (error instanceof UnrecoverableError) return false;
  return job.attemptsMade + 1 < (job.opts.attempts ?? 1);
}

const stackOf = (error: unknown) => (error instanceof Error ? (error.stack ?? null) : null);

/** What a refused delivery answers: the stored SUCCESS's result, or BullMQ's no-retry failure. */
async function settledResult(store: ResultStore, taskId: string): Promise<unknown> {
  const meta = await store.getMeta(taskId);
  if (meta.status === SUCCESS) return meta.result;
  const why = meta.status === REVOKED ? "was revoked" : `already ended in ${meta.status}`;
  throw new UnrecoverableError(`[resultstore] [bullmq] Task ${taskId} ${why}: not run again.`);
}
