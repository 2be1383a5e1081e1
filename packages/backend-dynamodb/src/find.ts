/**
 * `find` and `countByState` on the two find indexes (README "Finding tasks"): the key condition
 * does the state and the time range, the filter expression the name, metadata and expiry.
 */
import {
  type AttributeDefinition,
  type GlobalSecondaryIndex,
  type ProvisionedThroughput,
  QueryCommand,
  type QueryCommandInput,
} from "@aws-sdk/client-dynamodb";
import {
  type CountQuery,
  encodeJson,
  type FindQuery,
  InvalidQueryError,
  type TaskRecord,
  type TaskState,
} from "@resultstore/core";
import type { Table } from "./client.js";
import { errors } from "./errors.js";
import { Expression } from "./expression.js";
import {
  ATTR,
  decodeTask,
  epochSeconds,
  findPosition,
  type Item,
  LISTED,
  METADATA_PREFIX,
  timeKey,
} from "./records.js";

/** A find index: its name and partition key; the sort key of both is `find_position`. */
interface FindIndex {
  name: string;
  partitionKey: string;
}

/** Tasks of one state, in `find`'s order: `find` with states queries it once per state. */
export const BY_STATE: FindIndex = { name: "resultstore-by-state", partitionKey: ATTR.status };
/**
 * Every task in one partition, in `find`'s order: `find` without states and `countByState`.
 * Apart from {@link BY_STATE} because custom states (Celery's `update_state(state="PROGRESS")`)
 * are found too, and no index lists the states a table holds.
 */
export const ALL_TASKS: FindIndex = { name: "resultstore-all-tasks", partitionKey: ATTR.listed };
export const FIND_INDEXES = [BY_STATE, ALL_TASKS] as const;

/** The key attributes the find indexes declare (every one a string). */
export const FIND_ATTRIBUTES: AttributeDefinition[] = [ATTR.status, ATTR.position, ATTR.listed].map(
  (AttributeName) => ({ AttributeName, AttributeType: "S" }),
);

/** An index definition for CreateTable/UpdateTable; `ALL` so the filter can read metadata keys. */
export function indexDefinition(
  index: FindIndex,
  throughput: ProvisionedThroughput | undefined,
): GlobalSecondaryIndex {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey, KeyType: "HASH" },
      { AttributeName: ATTR.position, KeyType: "RANGE" },
    ],
    Projection: { ProjectionType: "ALL" },
    ...(throughput && { ProvisionedThroughput: throughput }),
  };
}

/** DynamoDB's limit on one expression string. */
const MAX_EXPRESSION_BYTES = 4096;
/** Celery's `name`, kept in its own attribute like the other optional fields. */
const NAME_ATTRIBUTE = "name";

/** One end of a `find_position` range; `strict` ends exclude the position itself. */
interface Bound {
  key: string;
  strict: boolean;
}

/** What the key condition selects: positions between `low` and `high`, each optional. */
interface KeyRange {
  low?: Bound;
  high?: Bound;
}

/** The failure to answer when an index is missing or still being built. */
export type OnMissingIndex = (index: string, cause: unknown) => Promise<never>;

/**
 * The first `query.limit` matching tasks: one query per partition (a state, or all tasks), each
 * read in `query.order` a page of at most `limit` items at a time, merged by position.
 */
export async function findTasks(
  table: Table,
  query: FindQuery,
  onMissingIndex: OnMissingIndex,
): Promise<TaskRecord[]> {
  const range = findRange(query);
  if (isEmpty(range)) return [];
  const partitions = query.states
    ? query.states.map((state) => ({ index: BY_STATE, value: state }))
    : [{ index: ALL_TASKS, value: LISTED }];
  const newestFirst = query.order === "newest";
  const excluded = includedStrictEnds(range);
  const comesFirst = (a: Item, b: Item) => {
    const order = compareBytes(positionOf(a), positionOf(b));
    return newestFirst ? order > 0 : order < 0;
  };
  const streams = partitions.map(
    ({ index, value }) =>
      new PartitionReader(excluded, (startKey, limit) =>
        queryPage(table, onMissingIndex, {
          ...queryInput(table.name, index, value, range, query),
          ScanIndexForward: !newestFirst,
          Limit: limit,
          ExclusiveStartKey: startKey,
        }),
      ),
  );
  const found: TaskRecord[] = [];
  while (found.length < query.limit) {
    const wanted = query.limit - found.length;
    const heads = await Promise.all(streams.map((stream) => stream.head(wanted)));
    let best: number | undefined;
    for (const [i, head] of heads.entries()) {
      const leader = best === undefined ? undefined : heads[best];
      if (head && (!leader || comesFirst(head, leader))) best = i;
    }
    if (best === undefined) break;
    const item = (streams[best] as PartitionReader).take();
    const position = positionOf(item);
    const record = decodeTask(item, position.slice(position.indexOf("#") + 1));
    if (record) found.push(record);
  }
  return found;
}

/** How many tasks match, by state: the all-tasks index, reading `status` alone from each. */
export async function countTasks(
  table: Table,
  query: CountQuery,
  onMissingIndex: OnMissingIndex,
): Promise<Record<TaskState, number>> {
  const counts: Record<TaskState, number> = {};
  const range = timeRange(query);
  if (isEmpty(range)) return counts;
  const input = queryInput(table.name, ALL_TASKS, LISTED, range, query, [ATTR.status]);
  let startKey: Item | undefined;
  do {
    const page = await queryPage(table, onMissingIndex, { ...input, ExclusiveStartKey: startKey });
    for (const item of page.items) {
      const state = item[ATTR.status]?.S;
      if (state !== undefined) counts[state] = (counts[state] ?? 0) + 1;
    }
    startKey = page.lastKey;
  } while (startKey);
  return counts;
}

/** One page of a Query; an index that is missing or being built goes to `onMissingIndex`. */
async function queryPage(table: Table, onMissingIndex: OnMissingIndex, input: QueryCommandInput) {
  const missing = (error: unknown) =>
    errors.statusOf(error) === "ValidationException" &&
    /specified index|backfilling/i.test((error as Error).message ?? "")
      ? onMissingIndex(input.IndexName as string, error)
      : undefined;
  const output = await errors.guard(
    `find of tasks in ${input.IndexName}`,
    () => table.client.send(new QueryCommand(input)),
    missing,
  );
  return { items: output.Items ?? [], lastKey: output.LastEvaluatedKey };
}

/** The Query of one partition of `index` over `range`, filtered by `query`'s other criteria. */
function queryInput(
  tableName: string,
  index: FindIndex,
  value: string,
  range: KeyRange,
  query: CountQuery,
  projection?: string[],
): QueryCommandInput {
  const expr = new Expression();
  const partition = `${expr.name(index.partitionKey)} = ${expr.value({ S: value })}`;
  const position = () => expr.name(ATTR.position); // named only when used: DynamoDB refuses unused names
  const bound = ({ key }: Bound) => expr.value({ S: key });
  const { low, high } = range;
  let keys = partition;
  // BETWEEN is inclusive at both ends: a strict end's own position is skipped by PartitionReader.
  if (low && high) keys += ` AND ${position()} BETWEEN ${bound(low)} AND ${bound(high)}`;
  else if (high) keys += ` AND ${position()} ${high.strict ? "<" : "<="} ${bound(high)}`;
  else if (low) keys += ` AND ${position()} ${low.strict ? ">" : ">="} ${bound(low)}`;
  const filter = [expr.live(ATTR.ttl, epochSeconds(query.now))];
  if (query.name !== undefined)
    filter.push(`${expr.name(NAME_ATTRIBUTE)} = ${expr.value({ S: encodeJson(query.name) })}`);
  // Each metadata key is its own attribute holding the value's Celery JSON, so equality of the
  // text is equality with type: 42 is `42`, "42" is `"42"`, [42] is `[42]`.
  for (const [key, wanted] of query.metadata ?? [])
    filter.push(
      `${expr.name(`${METADATA_PREFIX}${key}`)} = ${expr.value({ S: encodeJson(wanted) })}`,
    );
  const filterText = filter.join(" AND ");
  if (Buffer.byteLength(filterText) > MAX_EXPRESSION_BYTES)
    throw new InvalidQueryError(
      `A filter on ${query.metadata?.length} metadata keys exceeds DynamoDB's 4 KB filter expression; filter on fewer keys.`,
    );
  const projected = projection?.map((attribute) => expr.name(attribute)).join(", ");
  return {
    TableName: tableName,
    IndexName: index.name,
    KeyConditionExpression: keys,
    FilterExpression: filterText,
    ...(projected && { ProjectionExpression: projected }),
    ...expr.placeholders(),
  };
}

/** The strict ends a BETWEEN includes (it is inclusive): their positions are dropped on reading. */
function includedStrictEnds({ low, high }: KeyRange): Set<string> {
  const ends = low && high ? [low, high].filter((end) => end.strict) : [];
  return new Set(ends.map((end) => end.key));
}

/** `find`'s range: the time filter, the snapshot (`asOf`) and the previous page's last position. */
function findRange(query: FindQuery): KeyRange {
  const range = timeRange(query);
  // Times at or before `asOf` are below the next millisecond's prefix; positions without a time
  // (`#<id>`) are below every prefix: they always pass the snapshot, as core says.
  const snapshot = { key: timeKey(query.asOf.getTime() + 1), strict: false };
  range.high = lower(range.high, snapshot);
  if (query.startAfter) {
    const last = {
      key: findPosition(query.startAfter.time, query.startAfter.taskId),
      strict: true,
    };
    if (query.order === "newest") range.high = lower(range.high, last);
    else range.low = higher(range.low, last);
  }
  return range;
}

/**
 * The range of `after`/`before`. A time prefix is never a whole position (those go on with `#`),
 * so `>=`/`<=` on it mean "at or after"/"before" that millisecond; either one also keeps out the
 * positions without a time (`#<id>` sorts below "000…"), which match no time filter.
 */
function timeRange(query: CountQuery): KeyRange {
  const range: KeyRange = {};
  if (query.after || query.before)
    range.low = { key: timeKey(query.after?.getTime() ?? 0), strict: false };
  if (query.before) range.high = { key: timeKey(query.before.getTime()), strict: false };
  return range;
}

const lower = (a: Bound | undefined, b: Bound): Bound => (!a || compareEnds(b, a) < 0 ? b : a);
const higher = (a: Bound | undefined, b: Bound): Bound => (!a || compareEnds(b, a) > 0 ? b : a);

/** Orders two ends by key; at the same key a strict end is the narrower one for either side. */
function compareEnds(a: Bound, b: Bound): number {
  return compareBytes(a.key, b.key) || (a.strict === b.strict ? 0 : a.strict ? -1 : 1);
}

/** Whether no position fits: DynamoDB refuses a BETWEEN whose low end is above its high end. */
function isEmpty({ low, high }: KeyRange): boolean {
  if (!low || !high) return false;
  const order = compareBytes(low.key, high.key);
  return order > 0 || (order === 0 && (low.strict || high.strict));
}

/** UTF-8 byte order: how DynamoDB sorts string keys. */
const compareBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

const positionOf = (item: Item) => item[ATTR.position]?.S ?? "";

type FetchPage = (
  startKey: Item | undefined,
  limit: number,
) => Promise<{ items: Item[]; lastKey: Item | undefined }>;

/** One partition's matches in order, fetched a page at a time as the merge consumes them. */
class PartitionReader {
  private buffer: Item[] = [];
  private startKey: Item | undefined;
  private exhausted = false;
  /**
   * Entries the last page could read. `Limit` counts entries read, before the filter: with a
   * name or metadata filter that drops most of them, pages of `limit` entries took one round
   * trip per `limit` entries read (a filter matching 1 in 50: 50 Queries for a page of 100).
   * Each page may now read twice what the one before could: a sparse filter takes log₂ as many
   * round trips, and reads at most about twice the entries it needed.
   */
  private pageLimit = 0;

  constructor(
    private readonly excluded: ReadonlySet<string>,
    private readonly fetchPage: FetchPage,
  ) {}

  /** The next match, fetching pages of `wanted` entries or more until one matches or none is left. */
  async head(wanted: number): Promise<Item | undefined> {
    while (this.buffer.length === 0 && !this.exhausted) {
      this.pageLimit = Math.max(wanted, this.pageLimit * 2);
      const page = await this.fetchPage(this.startKey, this.pageLimit);
      this.buffer = page.items.filter((item) => !this.excluded.has(positionOf(item)));
      this.startKey = page.lastKey;
      this.exhausted = !page.lastKey;
    }
    return this.buffer[0];
  }

  take(): Item {
    return this.buffer.shift() as Item;
  }
}
