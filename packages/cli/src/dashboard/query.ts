/**
 * The dashboard's API parameters, read from a request's query string into `find`'s and
 * `countByState`'s input. The same words as `resultstore ls`: `state` (repeatable, or comma
 * separated), `name`, `meta=KEY=VALUE` (repeatable), `since=1h` or `after=<ISO time>`, `before`,
 * `limit`, `order`, `cursor`. What does not parse is an `InvalidQueryError`, as the store's own
 * checks are, so the server answers both with 400.
 */
import { type FindOptions, InvalidQueryError, type TaskFilter } from "@resultstore/core";
import { isoTime, metadataValue, sinceAge, stateNames } from "../filters.js";

/** `find`'s filter and options from `params`. */
export function findRequest(
  params: URLSearchParams,
  now: number,
): { filter: TaskFilter; options: FindOptions } {
  const filter: TaskFilter = { ...countFilter(params, now), ...states(params) };
  const limit = params.get("limit");
  const order = params.get("order");
  const cursor = params.get("cursor");
  if (limit !== null && !/^\d+$/.test(limit))
    throw new InvalidQueryError(`limit must be a whole number, got "${limit}"`);
  if (order !== null && order !== "newest" && order !== "oldest")
    throw new InvalidQueryError(`order must be newest or oldest, got "${order}"`);
  const options: FindOptions = {
    ...(limit !== null && { limit: Number(limit) }),
    ...(order !== null && { order }),
    ...(cursor && { cursor }),
  };
  return { filter, options };
}

/** `countByState`'s filter (every criterion but the state) from `params`. */
export function countFilter(params: URLSearchParams, now: number): Omit<TaskFilter, "state"> {
  const filter: { -readonly [K in keyof TaskFilter]: TaskFilter[K] } = {};
  const name = params.get("name");
  if (name) filter.name = name;
  const pairs = params.getAll("meta").filter(Boolean);
  if (pairs.length) filter.metadata = Object.fromEntries(pairs.map(metaPair));
  const since = params.get("since");
  const after = params.get("after");
  if (since && after) throw new InvalidQueryError("give since or after, not both");
  if (since) {
    const start = sinceAge(since, now);
    if (!start)
      throw new InvalidQueryError(`since takes an age like 90s, 30m, 1h, 2d or 1w, got "${since}"`);
    filter.after = start;
  }
  if (after) filter.after = checkedTime(after, "after");
  const before = params.get("before");
  if (before) filter.before = checkedTime(before, "before");
  return filter;
}

function states(params: URLSearchParams): Pick<TaskFilter, "state"> {
  const names = stateNames(params.getAll("state"));
  return names.length ? { state: names } : {};
}

function metaPair(pair: string): [string, string | number | boolean] {
  const at = pair.indexOf("=");
  if (at <= 0) throw new InvalidQueryError(`meta takes KEY=VALUE, got "${pair}"`);
  return [pair.slice(0, at), metadataValue(pair.slice(at + 1))];
}

function checkedTime(text: string, what: string): Date {
  const time = isoTime(text);
  if (!time)
    throw new InvalidQueryError(
      `${what} takes an ISO 8601 time like 2026-01-31T12:00Z, got "${text}"`,
    );
  return time;
}
