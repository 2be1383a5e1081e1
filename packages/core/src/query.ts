/**
 * `find`'s and `countByState`'s input as callers write it (`TaskFilter`, `FindOptions`), checked
 * and resolved into what backends are asked (`CountQuery`, `FindQuery`). Every check runs before
 * anything reaches a backend; a failed one is an `InvalidQueryError` (an `InvalidCursorError` for
 * the cursor).
 */
import { decodeCursor, filterHash } from "./cursor.js";
import { InvalidQueryError } from "./errors.js";
import type { TaskState } from "./states.js";
import type { CountQuery, FindOrder, TaskPosition } from "./types.js";
import { isPlainObject, isSafeMetadataKey, isStateName, METADATA_KEY_RULE } from "./validate.js";

/** A metadata value `find` can compare: a string, a finite number or a boolean. */
export type MetadataScalar = string | number | boolean;

/** Which tasks `find` and `countByState` select; every criterion given must match. */
export interface TaskFilter {
  /** The task is in this state, or in one of these. */
  state?: TaskState | readonly TaskState[];
  /** The task's name (Celery's `name`, e.g. "tasks.add") is exactly this. */
  name?: string;
  /**
   * Each key is a top-level metadata key holding exactly this value: same type and value, so
   * `{ user: 42 }` matches neither `"42"` nor `[42]`.
   */
  metadata?: Readonly<Record<string, MetadataScalar>>;
  /**
   * Last written at or after this (inclusive). The time is the record's `updatedAt`, or its
   * `dateDone` on a record Celery's own backends wrote; a record with neither never matches.
   */
  after?: Date;
  /** Last written before this (exclusive). */
  before?: Date;
}

/** How `find` pages. */
export interface FindOptions {
  /** Page size, 1 to 1000. @default 100 */
  limit?: number;
  /** The `cursor` of the previous page, to continue; absent: the first page. */
  cursor?: string;
  /** Most recently written first, or least recently. @default "newest" */
  order?: FindOrder;
}

/** Largest page `find` returns. */
export const MAX_FIND_LIMIT = 1000;
/** `find`'s page size when none is given. */
export const DEFAULT_FIND_LIMIT = 100;

const FILTER_KEYS = new Set(["state", "name", "metadata", "after", "before"]);
const OPTION_KEYS = new Set(["limit", "cursor", "order"]);

/** A checked filter: the backend's criteria and a digest of them for the cursor. */
interface ResolvedFilter {
  criteria: Omit<CountQuery, "now">;
  states?: TaskState[];
  /** {@link filterHash} of the criteria and states. */
  digest: string;
}

/** A checked `find` call: what to ask the backend for, and where a cursor says to resume. */
export interface ResolvedFind extends ResolvedFilter {
  order: FindOrder;
  limit: number;
  /** From the cursor: the snapshot and the last position returned; absent on the first page. */
  resume?: { asOf: Date; startAfter: TaskPosition };
}

/** `find`'s arguments, checked; `InvalidQueryError` (or `InvalidCursorError`) when they are not. */
export function resolveFind(filter: unknown, options: unknown): ResolvedFind {
  const resolved = resolveFilter(filter, "find", true);
  checkKeys(options, OPTION_KEYS, "find's options");
  const { limit = DEFAULT_FIND_LIMIT, cursor, order = "newest" } = options as FindOptions;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FIND_LIMIT)
    throw new InvalidQueryError(
      `find's limit must be a whole number from 1 to ${MAX_FIND_LIMIT}, got ${String(limit)}.`,
    );
  if (order !== "newest" && order !== "oldest")
    throw new InvalidQueryError(`find's order must be "newest" or "oldest", got ${show(order)}.`);
  if (cursor === undefined) return { ...resolved, order, limit };
  const state = decodeCursor(cursor, order, resolved.digest);
  return { ...resolved, order, limit, resume: { asOf: state.asOf, startAfter: state.last } };
}

/** `countByState`'s filter (no `state`: it counts each), checked. */
export function resolveCountFilter(filter: unknown): Omit<CountQuery, "now"> {
  return resolveFilter(filter, "countByState", false).criteria;
}

function resolveFilter(filter: unknown, call: string, withState: boolean): ResolvedFilter {
  const allowed = withState ? FILTER_KEYS : new Set([...FILTER_KEYS].filter((k) => k !== "state"));
  checkKeys(filter, allowed, `${call}'s filter`);
  const { state, name, metadata, after, before } = filter as TaskFilter;
  const criteria: Omit<CountQuery, "now"> = {};
  if (name !== undefined) {
    if (typeof name !== "string" || name.length === 0)
      throw new InvalidQueryError(`The name filter must be a non-empty string, got ${show(name)}.`);
    criteria.name = name;
  }
  if (metadata !== undefined) {
    const entries = metadataEntries(metadata);
    if (entries.length > 0) criteria.metadata = entries;
  }
  if (after !== undefined) criteria.after = checkDate(after, "after");
  if (before !== undefined) criteria.before = checkDate(before, "before");
  if (criteria.after && criteria.before && criteria.after >= criteria.before)
    throw new InvalidQueryError(
      `The filter's after (${criteria.after.toISOString()}) must be earlier than its before (${criteria.before.toISOString()}).`,
    );
  const states = state === undefined ? undefined : checkStates(state);
  const digest = filterHash({
    states: states && [...states].sort(),
    name: criteria.name,
    metadata: criteria.metadata,
    after: criteria.after?.getTime(),
    before: criteria.before?.getTime(),
  });
  return { criteria, ...(states && { states }), digest };
}

/** Throws unless `value` is absent or a plain object with only `allowed` keys. */
function checkKeys(value: unknown, allowed: ReadonlySet<string>, what: string): void {
  if (value === undefined) return;
  if (!isPlainObject(value)) throw new InvalidQueryError(`${capitalise(what)} must be an object.`);
  for (const key of Object.keys(value)) {
    if (!allowed.has(key))
      throw new InvalidQueryError(
        `${capitalise(what)} has an unknown key ${show(key)}; known: ${[...allowed].join(", ")}.`,
      );
  }
}

function checkStates(state: unknown): TaskState[] {
  const list = Array.isArray(state) ? state : [state];
  if (list.length === 0)
    throw new InvalidQueryError("The state filter is an empty list: it would match nothing.");
  for (const item of list) {
    // Custom states (Celery's update_state(state="PROGRESS")) are found too; a name no write
    // could store (lower case, a typo like "failure") is refused rather than matching nothing.
    if (!isStateName(item))
      throw new InvalidQueryError(
        `The state filter ${show(item)} is not a state name (upper case: "SUCCESS", "FAILURE", …).`,
      );
  }
  return [...new Set(list as string[])];
}

function metadataEntries(metadata: unknown): [string, MetadataScalar][] {
  if (!isPlainObject(metadata))
    throw new InvalidQueryError("The metadata filter must be a plain object of key: value.");
  const entries: [string, MetadataScalar][] = [];
  for (const key of Object.keys(metadata).sort()) {
    if (!isSafeMetadataKey(key))
      throw new InvalidQueryError(
        `The metadata filter's key ${show(key)} is not allowed (${METADATA_KEY_RULE}).`,
      );
    const value = metadata[key];
    const scalar =
      typeof value === "string" ||
      typeof value === "boolean" ||
      (typeof value === "number" && Number.isFinite(value));
    if (!scalar)
      throw new InvalidQueryError(
        `The metadata filter's value for ${show(key)} must be a string, a finite number or a boolean, got ${show(value)}.`,
      );
    entries.push([key, value as MetadataScalar]);
  }
  return entries;
}

function checkDate(value: unknown, what: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime()))
    throw new InvalidQueryError(`The filter's ${what} must be a valid Date, got ${show(value)}.`);
  return new Date(value.getTime());
}

function show(value: unknown): string {
  if (value instanceof Date) return `Date(${value.getTime()})`;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  try {
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
