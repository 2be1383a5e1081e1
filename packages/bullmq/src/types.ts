/** Options of @resultstore/bullmq. */
import type { JobsOptions, Queue } from "bullmq";

/** `enqueue`'s options: BullMQ's own job options plus what the QUEUED record carries. */
export interface EnqueueOptions extends Omit<JobsOptions, "jobId"> {
  /** The BullMQ job id, which is also the task id in the store. @default a random UUID */
  jobId?: string;
  /** Merged into the record before the job is published; kept by every later write. */
  metadata?: Record<string, unknown>;
}

/** One job of a chord: a member of its header, or its callback. */
export interface ChordJob {
  name: string;
  data?: unknown;
  /** The member's job id. @default a random UUID */
  jobId?: string;
  metadata?: Record<string, unknown>;
}

export interface ChordSpec {
  /** The header: jobs that run in parallel on the queue given to `enqueueChord`. */
  members: readonly ChordJob[];
  /** Runs exactly once, after every member succeeded, with `{ results, data }` as its data. */
  callback: ChordJob & {
    /** The queue the callback is published to by the worker that finishes the chord. @default the members' queue */
    queue?: string;
  };
  /** The group id (Celery's `group_id` on every member's record). @default a random UUID */
  groupId?: string;
}

/** What `withResultStore` needs beyond the store. */
export interface TrackOptions {
  /** Recorded as the `worker` field (Celery's `hostname`). @default "bullmq@<hostname>" */
  workerName?: string;
  /**
   * The queue a finished chord's callback is published to, by name. Needed only by workers that
   * run chord members; without it a member's success never publishes the callback.
   */
  chordQueue?: (name: string) => Queue;
}

/** The data a chord callback job receives. */
export interface ChordCallbackData<D = unknown> {
  /** Each member's result, in the order the members were given. */
  results: unknown[];
  /** The callback's own `data`. */
  data: D;
}
