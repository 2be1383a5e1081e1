/**
 * `find` and `countByState` as MongoDB queries (README, "Finding tasks"). A record's time is our
 * `updated_at`, or `date_done` on a document Celery's own backend wrote (it has no `updated_at`).
 * No single index order interleaves the two, so a page is two index-ordered queries — our
 * documents (`updated_at` set) and Celery's (`updated_at` null) — merged here; both sort by
 * `(updated_at, date_done, _id)`, which one index serves for both.
 */
import type { CountQuery, FindOrder, FindQuery, TaskPosition, TaskRecord } from "@resultstore/core";
import { CHORD_CLAIM_KEY_PREFIX, firstInOrder } from "@resultstore/core/backend";
import type { Collection, Document, IndexSpecification } from "mongodb";
import { decodeTask, expiredFilter, type TaskDocument, UPDATED_FIELD } from "./records.js";

/**
 * The indexes `find` and `countByState` read, created on the task collection at provisioning:
 * a state filter (points on `status`) and no state filter each get the sort from the index. Both
 * end in `date_done` then `_id`, so Celery's documents (the null bucket of `updated_at`) come in
 * their order, `(date_done, _id)`, from the same index.
 */
export const FIND_INDEXES: readonly IndexSpecification[] = [
  { status: 1, [UPDATED_FIELD]: 1, date_done: 1, _id: 1 },
  { [UPDATED_FIELD]: 1, date_done: 1, _id: 1 },
];
/** Metadata equality filters, where the engine has wildcard indexes (client.ts). */
export const METADATA_INDEX: IndexSpecification = { "metadata.$**": 1 };

// The prefix holds no regular-expression syntax ("chord-claim-").
const INTERNAL_IDS = new RegExp(`^${CHORD_CLAIM_KEY_PREFIX}`);

/** One kind of document: which field holds its time, and what tells it apart. */
interface Kind {
  time: typeof UPDATED_FIELD | "date_done";
  only: Document;
}
const OURS: Kind = { time: UPDATED_FIELD, only: { [UPDATED_FIELD]: { $type: "date" } } };
/**
 * Celery's documents: no `updated_at`, and `date_done` a BSON date or null. Celery before 5.3.4
 * wrote `date_done` as ISO text, which sorts apart from every date: those are never listed.
 */
const CELERYS: Kind = {
  time: "date_done",
  only: { [UPDATED_FIELD]: null, date_done: { $not: { $type: "string" } } },
};

const sortOf = (order: FindOrder) => {
  const direction = order === "oldest" ? 1 : -1;
  return { [UPDATED_FIELD]: direction, date_done: direction, _id: direction } as const;
};

/** Up to `query.limit` documents of each kind, merged into one page in `query.order`. */
export async function findTasks(
  tasks: Collection<TaskDocument>,
  query: FindQuery,
  resultExpires: number | null,
): Promise<TaskRecord[]> {
  const base = [
    ...criteria(query, resultExpires),
    ...(query.states ? [{ status: { $in: [...query.states] } }] : []),
  ];
  const [ours, celerys] = await Promise.all(
    [OURS, CELERYS].map((kind) =>
      findKind(tasks, kind, [...base, ...findBounds(kind, query)], query),
    ),
  );
  const records = [...(ours as TaskDocument[]), ...(celerys as TaskDocument[])].map((doc) =>
    decodeTask(doc, resultExpires),
  );
  return firstInOrder(records, query);
}

/**
 * The first `limit` documents of one kind in `find`'s order. The index orders records of one
 * time by `date_done` before `_id`, which is already `find`'s order for Celery's documents
 * (their time is `date_done`) but not for ours: when records of the page's last time (one
 * millisecond) go on past the page, they are read again, ordered by `_id`, to end it exactly.
 * One document more than the page tells whether they do: the time leads the sort, so the
 * records of one millisecond are contiguous, and a next document of another time means the
 * page holds all of its last millisecond (the client's final sort orders them by id).
 */
async function findKind(
  tasks: Collection<TaskDocument>,
  kind: Kind,
  filter: Document[],
  { order, limit }: FindQuery,
): Promise<TaskDocument[]> {
  const read = await tasks
    .find({ $and: filter }, { sort: sortOf(order), limit: limit + 1 })
    .toArray();
  const docs = read.slice(0, limit);
  const last = docs[docs.length - 1];
  const next = read[limit];
  if (kind !== OURS || !last || !next) return docs;
  const time = last[UPDATED_FIELD] as Date;
  if ((next[UPDATED_FIELD] as Date).getTime() !== time.getTime()) return docs;
  const before = docs.filter((doc) => (doc[UPDATED_FIELD] as Date).getTime() !== time.getTime());
  const tied = await tasks
    .find(
      { $and: [...filter, { [UPDATED_FIELD]: time }] },
      { sort: { _id: order === "oldest" ? 1 : -1 }, limit: limit - before.length },
    )
    .toArray();
  return [...before, ...tied];
}

/** What every query selects: task records (no chord claims), not expired, name and metadata. */
function criteria(query: CountQuery, resultExpires: number | null): Document[] {
  const and: Document[] = [
    { _id: { $not: INTERNAL_IDS } },
    // Expired documents the TTL sweep (or `cleanup`) has not deleted yet.
    { $nor: [expiredFilter(query.now, resultExpires)] },
  ];
  if (query.name !== undefined) and.push({ name: query.name });
  for (const [key, value] of query.metadata ?? []) {
    // Equality on an array matches any element: a stored [42] must not equal 42. Core refuses
    // "." and "$" in metadata keys, so the key is one path step.
    and.push({ [`metadata.${key}`]: { $eq: value, $not: { $type: "array" } } });
  }
  return and;
}

/** The time conditions of a `find` query on one kind: range, snapshot, and past the last page. */
function findBounds(kind: Kind, query: FindQuery): Document[] {
  const field = kind.time;
  // A record without a time (Celery's unready states) is inside every snapshot.
  const bounds = [
    kind.only,
    ...timeRange(field, query),
    { [field]: { $not: { $gt: query.asOf } } },
  ];
  if (query.startAfter) bounds.push(...pastPosition(field, query.order, query.startAfter));
  return bounds;
}

/** `after` (inclusive) and `before` (exclusive) on the time: a record without one never matches. */
function timeRange(field: string, { after, before }: CountQuery): Document[] {
  return [
    ...(after ? [{ [field]: { $gte: after } }] : []),
    ...(before ? [{ [field]: { $lt: before } }] : []),
  ];
}

/**
 * Strictly after `last` in `order`, where no time (null) is the oldest and ties go by `_id` (BSON
 * compares strings by their UTF-8 bytes: code point order, as core's). Each keeps a plain range
 * on the time beside the `$or`, so the index bounds the scan instead of filtering every entry.
 */
function pastPosition(field: string, order: FindOrder, last: TaskPosition): Document[] {
  const { time, taskId } = last;
  if (order === "oldest") {
    if (!time) return [{ $or: [{ [field]: { $ne: null } }, { _id: { $gt: taskId } }] }];
    return [
      { [field]: { $gte: time } },
      { $or: [{ [field]: { $gt: time } }, { _id: { $gt: taskId } }] },
    ];
  }
  if (!time) return [{ [field]: null }, { _id: { $lt: taskId } }];
  return [
    { [field]: { $not: { $gt: time } } },
    { $or: [{ [field]: { $ne: time } }, { _id: { $lt: taskId } }] },
  ];
}

/** How many task records `query` selects in each state: one `$group` over the matches. */
export async function countTasks(
  tasks: Collection<TaskDocument>,
  query: CountQuery,
  resultExpires: number | null,
): Promise<Record<string, number>> {
  const kinds = [OURS, CELERYS].map((kind) => ({
    $and: [kind.only, ...timeRange(kind.time, query)],
  }));
  const match = { $and: [...criteria(query, resultExpires), { $or: kinds }] };
  const groups = await tasks
    .aggregate<{ _id: unknown; count: number }>([
      { $match: match },
      { $group: { _id: "$status", count: { $sum: 1 } } },
    ])
    .toArray();
  const counts: Record<string, number> = {};
  for (const { _id: status, count } of groups)
    if (typeof status === "string") counts[status] = count;
  return counts;
}
