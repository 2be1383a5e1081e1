/**
 * What `find` and `countByState` mean, written once for every backend: the effective time, the
 * order (positions), and the matching rules of a {@link FindQuery} for backends that filter in the
 * client (and for memory://). A backend that queries natively reproduces these on its server;
 * the conformance suite's `find` group checks that it does.
 */
import { CHORD_CLAIM_KEY_PREFIX } from "./keys.js";
import { isExpired } from "./record.js";
import type { CountQuery, FindOrder, FindQuery, TaskPosition, TaskRecord } from "./types.js";

/**
 * The time `find` orders and filters a record by: its last write (`updatedAt`), or, on a record
 * Celery's own backends wrote (no `updatedAt`), its `dateDone`; null when it has neither (Celery's
 * unready states), and then it sorts as the oldest and never matches `after`/`before`.
 */
export function effectiveTime(record: Pick<TaskRecord, "updatedAt" | "dateDone">): Date | null {
  return record.updatedAt ?? record.dateDone;
}

/** The fields that place a record in `find`'s order. */
export type PositionedFields = Pick<TaskRecord, "taskId" | "updatedAt" | "dateDone">;

/** Where `record` stands in `find`'s order. */
export function positionOf(record: PositionedFields): TaskPosition {
  return { time: effectiveTime(record), taskId: record.taskId };
}

/**
 * Task ids in Unicode code point order, which is the order of their UTF-8 bytes: what MongoDB,
 * Elasticsearch, DynamoDB and Cassandra sort strings by. JavaScript's `<` compares UTF-16 code
 * units, which differs for characters above U+FFFF against U+E000–U+FFFF; the fix-up below (the
 * one ICU uses) moves surrogates above that range.
 */
export function compareTaskIds(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * `find`'s order, oldest first: by effective time (none sorts first), then by task id. Negative
 * when `a` comes before `b` in "oldest" order; "newest" order is the reverse.
 */
export function comparePositions(a: TaskPosition, b: TaskPosition): number {
  const x = a.time?.getTime() ?? Number.NEGATIVE_INFINITY;
  const y = b.time?.getTime() ?? Number.NEGATIVE_INFINITY;
  if (x !== y) return x < y ? -1 : 1;
  return compareTaskIds(a.taskId, b.taskId);
}

/** Negative when `a` comes before `b` in `order`. */
export function compareInOrder(order: FindOrder, a: TaskPosition, b: TaskPosition): number {
  return order === "oldest" ? comparePositions(a, b) : comparePositions(b, a);
}

/**
 * The first `query.limit` of `records` in `query.order`: one page from candidates that several
 * queries returned (a backend's own documents and Celery's, or a superset to cut exactly).
 */
export function firstInOrder<T extends PositionedFields>(
  records: readonly T[],
  query: Pick<FindQuery, "order" | "limit">,
): T[] {
  return [...records]
    .sort((a, b) => compareInOrder(query.order, positionOf(a), positionOf(b)))
    .slice(0, query.limit);
}

/**
 * Whether `taskId` names one of core's own records kept beside task records (the claim of a
 * chord's callback, `chord-claim-<group id>`): `find` and `countByState` never list them.
 */
export function isInternalTaskId(taskId: string): boolean {
  return taskId.startsWith(CHORD_CLAIM_KEY_PREFIX);
}

/** The fields of a record that `find`'s and `countByState`'s criteria look at. */
export type ListedFields = Pick<
  TaskRecord,
  "taskId" | "status" | "name" | "metadata" | "updatedAt" | "dateDone" | "expiresAt"
>;

/** Whether `record` counts for `query` (see {@link CountQuery}); for backends filtering in the client. */
export function matchesCountQuery(record: ListedFields, query: CountQuery): boolean {
  if (isInternalTaskId(record.taskId) || isExpired(record, query.now)) return false;
  if (query.name !== undefined && record.name !== query.name) return false;
  if (query.metadata?.length) {
    const metadata = record.metadata; // read once: a store may decode it on each read
    for (const [key, value] of query.metadata) {
      if (!Object.hasOwn(metadata, key) || metadata[key] !== value) return false;
    }
  }
  if (query.after || query.before) {
    const time = effectiveTime(record)?.getTime();
    if (time === undefined) return false;
    if (query.after && time < query.after.getTime()) return false;
    if (query.before && time >= query.before.getTime()) return false;
  }
  return true;
}

/**
 * Whether `record` belongs on a page of `query` (everything but the limit): it counts, its state
 * is asked for, it is inside the snapshot and after the previous page's last record.
 */
export function matchesFindQuery(record: ListedFields, query: FindQuery): boolean {
  if (query.states && !query.states.includes(record.status)) return false;
  if (!matchesCountQuery(record, query)) return false;
  const position = { time: effectiveTime(record), taskId: record.taskId };
  if (position.time && position.time.getTime() > query.asOf.getTime()) return false;
  return !query.startAfter || compareInOrder(query.order, query.startAfter, position) < 0;
}

/**
 * The first `query.limit` records of a scan, in `query.order`, keeping no more than that many in
 * memory: a backend that can only list everything (Consul) offers each record it reads and takes
 * the page at the end. Records that do not match the query are dropped on `offer`.
 */
export class PageCollector {
  private readonly kept: { position: TaskPosition; record: TaskRecord }[] = [];

  constructor(private readonly query: FindQuery) {}

  /** Considers one scanned record. */
  offer(record: TaskRecord): void {
    if (!matchesFindQuery(record, this.query)) return;
    const position = positionOf(record);
    const { kept, query } = this;
    const full = kept.length >= query.limit;
    const last = kept[kept.length - 1];
    if (full && last && compareInOrder(query.order, last.position, position) < 0) return;
    // Binary search for the first kept record that comes after this one.
    let low = 0;
    let high = kept.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareInOrder(query.order, (kept[mid] as (typeof kept)[number]).position, position) < 0)
        low = mid + 1;
      else high = mid;
    }
    kept.splice(low, 0, { position, record });
    if (kept.length > query.limit) kept.pop();
  }

  /** The page: at most `limit` records, in order. */
  page(): TaskRecord[] {
    return this.kept.map((entry) => entry.record);
  }
}
