/**
 * Chords over BullMQ: a header of jobs and a callback that runs exactly once, after every member
 * succeeded, with their results. The group (Celery's `celery-taskset-meta`) and each member's
 * `groupId` live in the store; counting is core's `onChordPartReturn` (each member is added to the
 * chord's member set, so a redelivery counts nothing new, and the delivery that sees the set full
 * and wins the chord's claim publishes the callback).
 */
import { randomUUID } from "node:crypto";
import { ConfigurationError, QUEUED, type ResultStore, type TaskMeta } from "@resultstore/core";
import { validateId } from "@resultstore/core/backend";
import type { Job, Queue } from "bullmq";
import { publishSpan, withTraceContext } from "./telemetry.js";
import type { ChordCallbackData, ChordSpec } from "./types.js";

/** The callback's task (and job) id: derived from the group, so any member's worker finds it. */
export const chordCallbackId = (groupId: string) => `${groupId}-callback`;

/**
 * Records the callback and every member QUEUED (members with the chord's `groupId`) and saves the
 * group, then publishes the members to `queue`. The callback is published later, by the worker
 * whose member completes the header (see `withResultStore`'s `chordQueue`).
 */
export async function enqueueChord(
  store: ResultStore,
  queue: Queue,
  spec: ChordSpec,
): Promise<{ groupId: string; callbackId: string; members: Job[] }> {
  const groupId = spec.groupId ?? randomUUID();
  validateId(groupId, "group id");
  if (spec.members.length === 0) {
    throw new ConfigurationError("bullmq", "A chord needs at least one member.");
  }
  const members = spec.members.map((m) => ({ ...m, jobId: m.jobId ?? randomUUID() }));
  const callbackId = chordCallbackId(groupId);
  const { callback } = spec;
  await store.storeResult(callbackId, null, QUEUED, {
    metadata: callback.metadata,
    request: {
      name: callback.name,
      args: [callback.data ?? null],
      queue: callback.queue ?? queue.name,
    },
  });
  for (const m of members) {
    await store.storeResult(m.jobId, null, QUEUED, {
      metadata: m.metadata,
      request: { name: m.name, args: [m.data ?? null], queue: queue.name, groupId },
    });
  }
  await store.saveGroup(
    groupId,
    members.map((m) => m.jobId),
  );
  const jobs = await publishSpan(store, queue.name, undefined, () =>
    queue.addBulk(
      members.map((m) => ({
        name: m.name,
        data: m.data ?? null,
        opts: withTraceContext(store, { jobId: m.jobId }),
      })),
    ),
  );
  return { groupId, callbackId, members: jobs };
}

/** The chord `taskId` belongs to, if any: its group and the callback's QUEUED record. */
async function chordOf(
  store: ResultStore,
  taskId: string,
): Promise<{ groupId: string; taskIds: string[]; callback: TaskMeta } | null> {
  const { groupId } = await store.getMeta(taskId);
  if (!groupId) return null;
  const group = await store.restoreGroup(groupId);
  if (!group) return null;
  const callback = await store.getMeta(chordCallbackId(groupId));
  if (callback.status === "PENDING") return null; // a plain group, not a chord
  return { groupId, taskIds: group.taskIds, callback };
}

/** After a member's SUCCESS: counts it, and the last one publishes the callback (exactly once). */
export async function chordMemberSucceeded(
  store: ResultStore,
  taskId: string,
  chordQueue: ((name: string) => Queue) | undefined,
): Promise<void> {
  const chord = await chordOf(store, taskId);
  if (!chord) return;
  if (!chordQueue) {
    throw new ConfigurationError(
      "bullmq",
      `Job ${taskId} is a member of chord ${chord.groupId}: give withResultStore a \`chordQueue\` to publish its callback.`,
    );
  }
  const { groupId, taskIds, callback } = chord;
  await store.onChordPartReturn({ groupId, taskId, size: taskIds.length }, async () => {
    const results = (await store.getMany(taskIds)).map((meta) => meta.result);
    const data: ChordCallbackData = { results, data: callback.args?.[0] ?? null };
    const name = callback.name ?? "chord-callback";
    // The fixed job id makes a second publish (which the claim already prevents) a BullMQ no-op.
    const target = chordQueue(callback.queue ?? "");
    await publishSpan(store, target.name, callback.taskId, () =>
      target.add(name, data, withTraceContext(store, { jobId: callback.taskId })),
    );
  });
}

/** The error a revoked member reports to its chord (Celery's TaskRevokedError). */
export function revokedError(reason: string): Error {
  return Object.assign(new Error(reason), { name: "TaskRevokedError" });
}

/** After a member's final FAILURE or its REVOKED: the callback fails as Celery's does, with a ChordError. */
export async function chordMemberFailed(
  store: ResultStore,
  taskId: string,
  error: unknown,
): Promise<void> {
  const chord = await chordOf(store, taskId);
  if (!chord) return;
  const message =
    error instanceof Error ? `${error.name}(${JSON.stringify(error.message)})` : String(error);
  await store.markFailure(chord.callback.taskId, {
    exc_type: "ChordError",
    exc_message: [`Dependency ${taskId} raised ${message}`],
    exc_module: "celery.exceptions",
  });
}
