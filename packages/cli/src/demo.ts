/**
 * The scenario resultstore exists for: a producer records tasks with its own metadata before
 * publishing them, workers report progress and results, a late duplicate STARTED arrives after
 * SUCCESS, and a chord counts its members — then a table shows what was kept.
 */
import { randomUUID } from "node:crypto";
import type { ResultStore } from "@resultstore/core";
import type { Command } from "./command.js";
import { displayUrl } from "./secrets.js";
import { type StoreChoice, withScratchStore } from "./store.js";
import { brief, renderTable } from "./table.js";

interface DemoTask {
  id: string;
  name: string;
  args: unknown[];
  metadata: Record<string, unknown>;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Plays the scenario on `url` in a namespace of its own, dropped afterwards. A failure is
 * reported as itself, never as the cleanup's error.
 */
export async function runDemo(
  url: string,
  print: (line: string) => void = console.log,
  choice: StoreChoice = {},
): Promise<void> {
  await withScratchStore(url, "demo", choice, async (store) => {
    print(`resultstore demo on ${store.backend.name} (${displayUrl(url)})\n`);
    const tasks = await produce(store, print);
    await work(store, tasks, print);
    await lateDuplicate(store, tasks[0] as DemoTask, print);
    const chord = await runChord(store, print);
    const metas = await store.getMany([...tasks, ...chord].map((t) => t.id));
    print("");
    print(
      renderTable(
        ["task", "name", "state", "result", "metadata"],
        metas.map((m, i) => [
          m.taskId.slice(0, 13),
          [...tasks, ...chord][i]?.name ?? "",
          m.status,
          brief(
            m.status === "FAILURE"
              ? (m.result as { exc_message?: unknown })?.exc_message
              : m.result,
            28,
          ),
          brief(m.metadata, 44),
        ]),
      ),
    );
  });
}

/** `resultstore demo [--url URL]` */
export const demoCommand: Command = {
  name: "demo",
  summary: "the producer/worker/chord scenario, on memory:// or your server",
  usage: "resultstore demo [--url URL]",
  help: [
    "  --url URL        where to play it (default memory://); works in a namespace of its own,",
    "                   dropped afterwards",
  ],
  options: { url: { type: "string" } },
  async run(parsed, io) {
    await runDemo(typeof parsed.values.url === "string" ? parsed.values.url : "memory://", io.out);
    return 0;
  },
};

/** The producer writes QUEUED with its metadata before it publishes each task. */
async function produce(store: ResultStore, print: (line: string) => void): Promise<DemoTask[]> {
  const tasks: DemoTask[] = [
    {
      name: "reports.render",
      args: ["q3-sales"],
      metadata: { tenant: "acme", requestedBy: "ana" },
    },
    {
      name: "reports.render",
      args: ["q3-costs"],
      metadata: { tenant: "acme", requestedBy: "ben" },
    },
    {
      name: "mail.send",
      args: ["welcome", 17],
      metadata: { tenant: "globex", campaign: "onboarding" },
    },
    {
      name: "images.resize",
      args: ["cat.png", 640],
      metadata: { tenant: "initech", priority: "high" },
    },
  ].map((t) => ({ ...t, id: randomUUID() }));
  for (const task of tasks) {
    await store.markQueued(task.id, {
      metadata: task.metadata,
      name: task.name,
      args: task.args,
      queue: "default",
    });
  }
  print(`producer  queued ${tasks.length} tasks with metadata (QUEUED), then published them`);
  return tasks;
}

/** Workers run concurrently: STARTED, then SUCCESS — or FAILURE for the missing image. */
async function work(
  store: ResultStore,
  tasks: DemoTask[],
  print: (line: string) => void,
): Promise<void> {
  await Promise.all(
    tasks.map(async (task, i) => {
      await store.markStarted(task.id);
      await pause(20 + i * 10);
      if (task.name === "images.resize") {
        await store.markFailure(task.id, new Error(`${task.args[0]} not found`), {
          traceback: "Traceback (worker-2)",
        });
      } else {
        await store.markSuccess(task.id, { task: task.name, input: task.args[0], pages: 3 + i });
      }
    }),
  );
  print("workers   marked STARTED, then SUCCESS or FAILURE (metadata kept through every write)");
}

/** A redelivered message makes a second worker report STARTED after the task succeeded. */
async function lateDuplicate(
  store: ResultStore,
  task: DemoTask,
  print: (line: string) => void,
): Promise<void> {
  const outcome = await store.markStarted(task.id, { pid: 4242, hostname: "worker-late" });
  const state = (await store.getMeta(task.id)).status;
  print(
    `late      duplicate STARTED after SUCCESS for ${task.id.slice(0, 13)}: ${outcome.applied ? "APPLIED (bug!)" : "refused"}, state stays ${state}`,
  );
}

/** A chord of four members, one delivered twice; the callback must run exactly once. */
async function runChord(store: ResultStore, print: (line: string) => void): Promise<DemoTask[]> {
  const groupId = randomUUID();
  const members = Array.from({ length: 4 }, (_, i) => ({
    id: randomUUID(),
    name: "chord.part",
    args: [i],
    metadata: { chord: groupId.slice(0, 8) },
  }));
  const callback = {
    id: randomUUID(),
    name: "chord.sum",
    args: [],
    metadata: { chord: groupId.slice(0, 8) },
  };
  await store.saveGroup(
    groupId,
    members.map((m) => m.id),
  );
  let fired = 0;
  const deliveries = [...members, members[2] as DemoTask];
  await Promise.all(
    deliveries.map(async (member) => {
      await store.markSuccess(member.id, (member.args[0] as number) * 10, {
        metadata: member.metadata,
        request: { groupId },
      });
      await store.onChordPartReturn(
        { groupId, taskId: member.id, size: members.length },
        async () => {
          fired++;
          const values = (await store.getMany(members.map((m) => m.id))).map(
            (m) => m.result as number,
          );
          await store.markSuccess(
            callback.id,
            values.reduce((a, b) => a + b, 0),
            { metadata: callback.metadata },
          );
        },
      );
    }),
  );
  print(
    `chord     ${members.length} members (one delivered twice) counted in a set: callback fired ${fired} time${fired === 1 ? "" : "s"}`,
  );
  return [...members, callback];
}
