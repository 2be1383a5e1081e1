/** What each traced ResultStore method records: its kind, its records, its attributes. */
import { encodeJson } from "./codec.js";
import { CLIENT, INTERNAL, type OtelAttributes } from "./otel-api.js";
import type { ChordPart, ChordProgress, StoreOutcome, TaskMeta, TaskPage } from "./store.js";

const VALUE_LIMIT = 4096;

type Args = readonly unknown[];

/** How one ResultStore method is recorded. */
export interface Operation {
  /** CLIENT: one logical database call; INTERNAL: made of other traced calls (not in the duration metric). */
  kind: typeof CLIENT | typeof INTERNAL;
  /** Which `BackendTelemetry.collection` entry the call touches. */
  records?: "tasks" | "groups" | "counters" | "sets";
  /** Attributes known before the call, from its arguments. */
  before(args: Args, values: boolean): OtelAttributes;
  /** Attributes of its answer. */
  after?(result: unknown, args: Args, values: boolean): OtelAttributes;
}

const taskId = (args: Args): OtelAttributes => ({ "resultstore.task.id": args[0] as string });
const groupId = (args: Args): OtelAttributes => ({ "resultstore.group.id": args[0] as string });
const metaAfter = (result: unknown, _args: Args, values: boolean): OtelAttributes => {
  const meta = result as TaskMeta;
  return {
    "resultstore.task.state": meta.status,
    ...(values ? valueAttributes(meta.result, meta.metadata) : {}),
  };
};

/**
 * Every traced method of ResultStore. `mark*` are not listed: they call `storeResult`. The
 * composite calls (`waitFor` polls `getMeta`; `onChordPartReturn` adds the member to the chord's
 * set, then claims the callback with `storeResult`) are INTERNAL spans around their CLIENT
 * children, so the duration histogram measures database calls only, never a 30-second wait.
 */
export const TRACED_OPERATIONS: Readonly<Record<string, Operation>> = {
  storeResult: {
    kind: CLIENT,
    records: "tasks",
    before: (args, values) => ({
      ...taskId(args),
      "resultstore.task.state": args[2] as string,
      ...(values
        ? valueAttributes(args[1], (args[3] as { metadata?: unknown } | undefined)?.metadata)
        : {}),
    }),
    after: (result) => ({ "resultstore.write.applied": (result as StoreOutcome).applied }),
  },
  getMeta: { kind: CLIENT, records: "tasks", before: taskId, after: metaAfter },
  getMany: {
    kind: CLIENT,
    records: "tasks",
    before: (args) => {
      const size = (args[0] as readonly string[]).length;
      return size >= 2 ? { "db.operation.batch.size": size } : {};
    },
  },
  waitFor: { kind: INTERNAL, records: "tasks", before: taskId, after: metaAfter },
  forget: { kind: CLIENT, records: "tasks", before: taskId },
  incr: {
    kind: CLIENT,
    records: "counters",
    before: (args) => ({ "resultstore.counter.key": args[0] as string }),
    after: (result) => ({ "resultstore.counter.value": result as number }),
  },
  saveGroup: {
    kind: CLIENT,
    records: "groups",
    before: (args) => ({
      ...groupId(args),
      "resultstore.group.size": (args[1] as readonly string[]).length,
    }),
  },
  restoreGroup: { kind: CLIENT, records: "groups", before: groupId },
  deleteGroup: { kind: CLIENT, records: "groups", before: groupId },
  onChordPartReturn: {
    kind: INTERNAL,
    records: "sets",
    before: (args) => {
      const part = args[0] as ChordPart;
      return {
        "resultstore.group.id": part.groupId,
        "resultstore.task.id": part.taskId,
        "resultstore.chord.size": part.size,
      };
    },
    after: (result) => {
      const progress = result as ChordProgress;
      return {
        "resultstore.chord.count": progress.count,
        "resultstore.chord.complete": progress.complete,
        "resultstore.chord.duplicate": progress.duplicate,
      };
    },
  },
  find: {
    kind: CLIENT,
    records: "tasks",
    before: () => ({}),
    after: (result) => ({ "db.response.returned_rows": (result as TaskPage).tasks.length }),
  },
  countByState: { kind: CLIENT, records: "tasks", before: () => ({}) },
  cleanup: {
    kind: CLIENT,
    before: () => ({}),
    after: (result) => ({ "resultstore.cleanup.removed": result as number }),
  },
};

function valueAttributes(result: unknown, metadata: unknown): OtelAttributes {
  return {
    "resultstore.task.result": clip(result),
    "resultstore.task.metadata": metadata === undefined ? undefined : clip(metadata),
  };
}

function clip(value: unknown): string | undefined {
  try {
    const text = encodeJson(value instanceof Error ? String(value) : (value ?? null));
    return text.length > VALUE_LIMIT ? `${text.slice(0, VALUE_LIMIT)}...` : text;
  } catch {
    return undefined; // a value the codec refuses is the call's error, reported there
  }
}

/** `error.type`: the error's class name (ours are `BackendConnectionError`, `WaitTimeoutError`, …). */
export function errorType(error: unknown): string {
  return error instanceof Error && error.name ? error.name : "_OTHER";
}
