/**
 * After the run, with every fault healed: what the store holds for every id and lasting counter
 * the history mentions. Read with patience (a restarted server may need a while), never through
 * the fault proxy.
 */
import { type ResultBackend, ResultStore } from "@resultstore/core";
import type { FinalEvent, FinalTask, HistoryEvent } from "./history.js";

const BATCH = 50;

export async function readFinalState(
  backend: ResultBackend,
  history: readonly HistoryEvent[],
  patienceMs = 120_000,
): Promise<FinalEvent> {
  const start = Date.now();
  const store = new ResultStore(backend, { alwaysRetry: true });
  const ids = new Set<string>();
  const counters = new Set<string>();
  for (const e of history) {
    if (e.type === "write") ids.add(e.id);
    if (e.type === "incr" && !e.expiring) counters.add(e.key);
  }
  const deadline = Date.now() + patienceMs;
  const patiently = async <T>(call: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  const tasks: Record<string, FinalTask> = {};
  const all = [...ids];
  for (let i = 0; i < all.length; i += BATCH) {
    const batch = all.slice(i, i + BATCH);
    const metas = await patiently(() => store.getMany(batch));
    metas.forEach((m) => {
      tasks[m.taskId] = { status: m.status, result: m.result, metadata: m.metadata };
    });
  }
  const values: Record<string, number> = {};
  // incr by 0 reads a counter without changing it (and restarts a vanished one at 0).
  for (const key of counters) values[key] = await patiently(() => store.incr(key, 0));
  return { type: "final", start, end: Date.now(), tasks, counters: values };
}
