/**
 * The client processes of a run, Node (worker.js, told its deadline over IPC) or Python
 * (python/worker.py, told over stdin), behind one handle the runner drives the same way.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { PackageEnv } from "@resultstore/celery-python/wheel";
import { pythonEnv } from "@resultstore/celery-python/wheel";
import type { CeleryBackend } from "./python.js";
import type { WORKLOAD, WorkerConfig } from "./worker.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const PYTHON_WORKER = join(HERE, "..", "python", "worker.py");

export interface ClientProcess {
  /** Resolves once the client opened its store (or exited). */
  ready: Promise<void>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** Moves the client's deadline (epoch milliseconds). */
  tell(deadline: number): void;
  kill(): void;
}

/** What a Python worker gets besides a Node worker's config. */
export interface PythonWorkerConfig extends WorkerConfig {
  celery: CeleryBackend;
  /** The Node workers' WORKLOAD, so both languages run one workload. */
  workload: typeof WORKLOAD;
  /** Every form of the URL secrets (secrets.ts), kept in error texts that are cut short. */
  secretForms: string[];
  /** Whether this process runs the cleanup lane. */
  cleanup: boolean;
}

export function spawnNodeWorker(config: WorkerConfig): ClientProcess {
  const child = spawn(process.execPath, [join(HERE, "worker.js"), JSON.stringify(config)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = new Promise<void>((resolve) => {
    const onMessage = (message: unknown) => {
      if (message !== "ready") return;
      child.off("message", onMessage);
      resolve();
    };
    child.on("message", onMessage);
    child.once("exit", () => resolve());
  });
  return handle(child, ready, (deadline) => {
    if (child.connected) child.send(`deadline:${deadline}`);
  });
}

/** python/worker.py in the Celery venv, resultstore-celery on its path from the wheel. */
export function spawnPythonWorker(config: PythonWorkerConfig, env: PackageEnv): ClientProcess {
  const child = spawn(env.python, [PYTHON_WORKER, JSON.stringify(config)], {
    env: pythonEnv(env.site),
    stdio: ["pipe", "pipe", "inherit"],
  });
  // A worker that exits early closes stdin under a late write: not the runner's failure.
  child.stdin?.on("error", () => {});
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line === "ready") resolve();
      else process.stderr.write(`[python p${config.p}] ${line}\n`);
    });
    child.once("exit", () => resolve());
  });
  return handle(child, ready, (deadline) => {
    if (child.stdin?.writable) child.stdin.write(`deadline:${deadline}\n`);
  });
}

function handle(
  child: ChildProcess,
  ready: Promise<void>,
  tell: (deadline: number) => void,
): ClientProcess {
  const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
  return { ready, exited, tell, kill: () => child.kill("SIGKILL") };
}
