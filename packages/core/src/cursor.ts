/**
 * `find`'s page cursor: opaque to callers (base64url JSON), and checked strictly when it comes
 * back, since it crosses process boundaries (a CLI, a web page) and a hand-made one must not
 * reach a backend's query.
 */
import { createHash } from "node:crypto";
import { InvalidCursorError } from "./errors.js";
import type { FindOrder, TaskPosition } from "./types.js";
import { validateId } from "./validate.js";

/** Bumped whenever the cursor's content or the order it resumes changes meaning. */
const CURSOR_VERSION = 1;
/** Longer than any cursor we make (a 200-byte task id, escaped, is the bulk of it). */
const MAX_CURSOR_LENGTH = 2048;

/** What a cursor carries: where paging stands, and what it was paging through. */
export interface CursorState {
  order: FindOrder;
  /** The snapshot the first page fixed. */
  asOf: Date;
  /** The last record returned so far. */
  last: TaskPosition;
  /** {@link filterHash} of the filter the pages are of. */
  filter: string;
}

/** The JSON a cursor encodes: short keys, every one required. */
interface CursorJson {
  v: number;
  o: FindOrder;
  s: number;
  t: number | null;
  i: string;
  f: string;
}
const CURSOR_KEYS = ["v", "o", "s", "t", "i", "f"].sort().join();

/**
 * A short digest of a resolved filter's canonical JSON (keys sorted, states sorted, dates as
 * milliseconds): a cursor made for one filter is refused for another.
 */
export function filterHash(canonical: unknown): string {
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url").slice(0, 22);
}

export function encodeCursor(state: CursorState): string {
  const json: CursorJson = {
    v: CURSOR_VERSION,
    o: state.order,
    s: state.asOf.getTime(),
    t: state.last.time?.getTime() ?? null,
    i: state.last.taskId,
    f: state.filter,
  };
  return Buffer.from(JSON.stringify(json)).toString("base64url");
}

/**
 * The state `cursor` carries, after checking that `find` made it for this `order` and filter
 * (`filter`: its {@link filterHash}); `InvalidCursorError` otherwise.
 */
export function decodeCursor(cursor: unknown, order: FindOrder, filter: string): CursorState {
  const json = parseCursor(cursor);
  if (json.v !== CURSOR_VERSION)
    throw new InvalidCursorError(
      `The cursor was made by another version of resultstore (cursor version ${json.v}, this one reads ${CURSOR_VERSION}); start paging again.`,
    );
  if (json.o !== order)
    throw new InvalidCursorError(
      `The cursor pages in "${json.o}" order, not "${order}": pass the order it was made with.`,
    );
  if (json.f !== filter)
    throw new InvalidCursorError(
      "The cursor was made for another filter: pass the filter of the first page with it.",
    );
  return {
    order,
    asOf: new Date(json.s),
    last: { time: json.t === null ? null : new Date(json.t), taskId: json.i },
    filter,
  };
}

function parseCursor(cursor: unknown): CursorJson {
  const malformed = (why: string) =>
    new InvalidCursorError(`The cursor is not one find returned: ${why}.`);
  if (typeof cursor !== "string" || cursor.length === 0) throw malformed("not a non-empty string");
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor))
    throw malformed("not base64url text of a cursor's length");
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw malformed("its content is not JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw malformed("its content is not an object");
  if (Object.keys(json).sort().join() !== CURSOR_KEYS) throw malformed("its fields are not ours");
  const { v, o, s, t, i, f } = json as Record<string, unknown>;
  const isMs = (n: unknown) => Number.isSafeInteger(n) && Math.abs(n as number) <= 8.64e15;
  if (!Number.isSafeInteger(v)) throw malformed("no version");
  if (o !== "newest" && o !== "oldest") throw malformed("no order");
  if (!isMs(s) || !(t === null || isMs(t))) throw malformed("its times are not times");
  if (t !== null && (t as number) > (s as number))
    throw malformed("its position is after its snapshot");
  if (typeof f !== "string") throw malformed("no filter digest");
  try {
    validateId(i);
  } catch {
    throw malformed("its task id is not a valid task id");
  }
  return json as CursorJson;
}
