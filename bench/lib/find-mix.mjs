// The find bench's pure logic (bench/find.mjs), free of any database so bench/test checks it:
// the records it loads, the query it asks, and how a hand-written native page is cut and
// compared with ours.

/** The query both sides answer: one state, one metadata key, pages of 100, newest first. */
export const FIND_STATE = "FAILURE";
export const FIND_TENANT = "t7";
export const PAGE = 100;
export const TENANTS = 50;
export const TASK_NAMES = ["reports.build", "mail.send", "billing.charge", "images.resize"];

/**
 * The state mix, as cumulative shares: mostly SUCCESS, some FAILURE/STARTED/QUEUED. QUEUED is
 * resultstore's "pending" record (`markQueued`); Celery's PENDING is never stored. FAILURE is a
 * tenth so that one tenant of 50 holds about N/500 failures: two full pages at 100k records.
 */
export const STATE_SHARES = [
  ["SUCCESS", 0.8],
  ["FAILURE", 0.1],
  ["STARTED", 0.05],
  ["QUEUED", 0.05],
];

/**
 * A 32-bit hash of `i` and `salt` (the murmur3 finalizer), uniform in [0, 1). Each field draws
 * its own salt, so state and tenant are independent: with `i % 20` and `i % 50` they would
 * share a factor and tenant t7 would never fail.
 */
export function unit(i, salt) {
  let h = (Math.imul(i, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}

/** Record `i` of the mix: its task id, state, task name and metadata. Deterministic. */
export function recordAt(i, prefix = "find") {
  const draw = unit(i, 1);
  let state = STATE_SHARES[STATE_SHARES.length - 1][0];
  let below = 0;
  for (const [name, share] of STATE_SHARES) {
    below += share;
    if (draw < below) {
      state = name;
      break;
    }
  }
  return {
    taskId: `${prefix}-${String(i).padStart(8, "0")}`,
    state,
    name: TASK_NAMES[Math.floor(unit(i, 2) * TASK_NAMES.length)],
    metadata: {
      tenant: `t${Math.floor(unit(i, 3) * TENANTS)}`,
      user: Math.floor(unit(i, 4) * 10_000),
    },
  };
}

/** Counts by state of the first `n` records of the mix with `metadata.tenant === tenant`. */
export function expectedCounts(n, tenant = FIND_TENANT, prefix = "find") {
  const counts = {};
  for (let i = 0; i < n; i++) {
    const record = recordAt(i, prefix);
    if (record.metadata.tenant === tenant) counts[record.state] = (counts[record.state] ?? 0) + 1;
  }
  return counts;
}

/**
 * Newest first: by time (ms) descending, then task id descending, as `find` orders (the ids here
 * are ASCII, where code point order is JavaScript's `<`).
 */
export function newestFirst(a, b) {
  if (a.time !== b.time) return b.time - a.time;
  return a.taskId < b.taskId ? 1 : a.taskId > b.taskId ? -1 : 0;
}

/** Whether `entry` ({time, taskId}) comes after `last` newest first (on the next page). */
export const isPast = (entry, last) => !last || newestFirst(last, entry) < 0;

/**
 * One page, newest first, of `entries` ({time, taskId, …}) that a native query returned unordered
 * (Cassandra cannot order across partitions; Consul and a Map have no order): past `last`, at
 * most `limit`. Keeps the best `limit` while scanning, so a large scan holds one page.
 */
export function pageOf(entries, limit, last) {
  const kept = [];
  for (const entry of entries) {
    if (!isPast(entry, last)) continue;
    if (kept.length === limit && newestFirst(kept[limit - 1], entry) <= 0) continue;
    let at = kept.length;
    while (at > 0 && newestFirst(kept[at - 1], entry) > 0) at--;
    kept.splice(at, 0, entry);
    if (kept.length > limit) kept.pop();
  }
  return kept;
}

/**
 * Why two pages differ, or null when they list the same task ids in the same order: the first
 * position that differs, and the counts.
 */
export function pageDifference(ours, native) {
  const length = Math.max(ours.length, native.length);
  for (let i = 0; i < length; i++) {
    if (ours[i] !== native[i])
      return `position ${i}: ours ${ours[i] ?? "(none)"}, native ${native[i] ?? "(none)"} (ours ${ours.length} ids, native ${native.length})`;
  }
  return null;
}

/** Counts by state without the zeros `countByState` lists for every known state. */
export function nonZero(counts) {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

/** Whether two count maps agree on every state (zeros and absent states are the same). */
export function sameCounts(a, b) {
  const x = nonZero(a);
  const y = nonZero(b);
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  return [...keys].every((key) => x[key] === y[key]);
}
