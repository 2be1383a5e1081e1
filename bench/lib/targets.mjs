// The in-process bench targets, all with one shape: `has(op)`, `prepare(ids)` (stores SUCCESS,
// untimed) and `run(op, {ids, count, width, maxSeconds})` → a sample. Ops:
//   store      SUCCESS of a new id
//   lifecycle  QUEUED with metadata → STARTED → SUCCESS of a new id (one op = three writes)
//   refused    a late STARTED on a SUCCESS id, which must be refused (the guarded targets check)
//   get        one record; getMany 100 records in one call; incr one counter
import { hostname } from "node:os";
import { measure } from "./measure.mjs";

export const OPS = ["store", "lifecycle", "refused", "get", "getMany", "incr"];
/** Ops that read or refuse records `prepare` stored first. */
export const PREPARED = new Set(["refused", "get", "getMany"]);
export const MANY = 100;

export const PAYLOAD = {
  rows: Array.from({ length: 10 }, (_, i) => ({ i, name: `row ${i}`, ok: true })),
};
export const METADATA = { tenant: "acme", requester: "bench", trace: "00-4bf92f3577b34da6-01" };
const STARTED_INFO = { pid: process.pid, hostname: hostname() };

/**
 * The records a target's prepared ops use, as two sets: the unguarded targets (raw, Celery) do
 * overwrite the records `refused` writes STARTED to — with a 40-byte result — so reads on the same
 * ids would read smaller records than ours, which refused those writes and still holds SUCCESS.
 */
export function preparedSets(count, newId) {
  const fresh = () => Array.from({ length: count }, newId);
  return { refused: fresh(), reads: fresh() };
}

/** Which prepared set `op` works on. */
export const preparedIdsFor = (prepared, op) => prepared[op === "refused" ? "refused" : "reads"];

/** Wraps per-op functions `(ids, i) => Promise` into the target shape. */
function local(name, fns, prepareOne) {
  return {
    name,
    has: (op) => op in fns,
    prepare: async (ids) => {
      await measure((i) => prepareOne(ids[i]), { count: ids.length, width: 16 });
    },
    run: (op, { ids, count, width, maxSeconds }) =>
      measure((i) => fns[op](ids, i), { count, width, maxSeconds }),
  };
}

const cycle = (ids, i) => ids[i % ids.length];

function refusedOrThrow(applied) {
  if (applied) throw new Error("a late STARTED after SUCCESS was applied");
}

/** resultstore through its public API. */
export function ourTarget(store) {
  return local(
    "resultstore",
    {
      store: (ids, i) => store.markSuccess(ids[i], PAYLOAD),
      lifecycle: async (ids, i) => {
        await store.markQueued(ids[i], { metadata: METADATA });
        await store.markStarted(ids[i], STARTED_INFO);
        await store.markSuccess(ids[i], PAYLOAD);
      },
      refused: async (ids, i) =>
        refusedOrThrow((await store.markStarted(cycle(ids, i), STARTED_INFO)).applied),
      get: (ids, i) => store.getMeta(cycle(ids, i)),
      getMany: (ids) => store.getMany(ids.slice(0, MANY)),
      incr: (ids) => store.incr(ids[0]),
    },
    (id) => store.markSuccess(id, PAYLOAD),
  );
}

/** The raw driver's minimal op (bench/raw/*.mjs): unguarded writes, plain reads. */
export function rawTarget(raw) {
  const write = (id, status, result, metadata) => raw.write(id, status, result, metadata);
  return local(
    raw.name,
    {
      store: (ids, i) => write(ids[i], "SUCCESS", PAYLOAD),
      lifecycle: async (ids, i) => {
        await write(ids[i], "QUEUED", null, METADATA);
        await write(ids[i], "STARTED", STARTED_INFO);
        await write(ids[i], "SUCCESS", PAYLOAD);
      },
      refused: (ids, i) => write(cycle(ids, i), "STARTED", STARTED_INFO),
      get: (ids, i) => raw.get(cycle(ids, i)),
      getMany: (ids) => raw.getMany(ids.slice(0, MANY)),
      incr: (ids) => raw.incr(ids[0]),
    },
    (id) => write(id, "SUCCESS", PAYLOAD),
  );
}

/** The same guarantee hand-written with the raw driver (bench/guarded/*.mjs): writes only. */
export function guardedTarget(guarded) {
  const applied = async (promise) => {
    if (!(await promise)) throw new Error("a guarded write was refused");
  };
  return local(
    guarded.name,
    {
      store: (ids, i) => applied(guarded.write(ids[i], "SUCCESS", PAYLOAD)),
      lifecycle: async (ids, i) => {
        await applied(guarded.write(ids[i], "QUEUED", null, METADATA));
        await applied(guarded.write(ids[i], "STARTED", STARTED_INFO));
        await applied(guarded.write(ids[i], "SUCCESS", PAYLOAD));
      },
      refused: async (ids, i) =>
        refusedOrThrow(await guarded.write(cycle(ids, i), "STARTED", STARTED_INFO)),
    },
    (id) => applied(guarded.write(id, "SUCCESS", PAYLOAD)),
  );
}
