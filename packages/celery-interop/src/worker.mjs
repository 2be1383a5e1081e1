// startCeleryWorker: a real `celery worker` from the pinned venv, consuming from a broker and storing
// results with Celery's own backend (interop/celery/e2e_worker.py). Types in ./index.d.ts.
import { spawn } from "node:child_process";
import { ensureCeleryEnv, PEER_DIR, peerEnv } from "./index.mjs";

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

/** @param {import("./index.d.ts").CeleryWorkerOptions} options */
export async function startCeleryWorker(options) {
  const python = await ensureCeleryEnv();
  const { url, broker, queue, settings = {}, peer = {}, log, app } = options;
  const request = { url, broker, settings, peer, ops: [] };
  const env = {
    ...peerEnv(request),
    ...app?.env,
    RESULTSTORE_CELERY_WORKER: JSON.stringify({ url, broker, settings, peer }),
  };
  const args = [
    "-m",
    "celery",
    "-A",
    app?.module ?? "e2e_worker",
    "worker",
    "--pool=solo",
    "--loglevel=INFO",
    "--without-mingle",
    "--without-gossip",
    "--without-heartbeat",
    `--hostname=e2e-${process.pid}@%h`,
    "-Q",
    queue,
  ];
  const child = spawn(python, args, {
    cwd: app?.cwd ?? PEER_DIR,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  /** @type {Set<() => void>} */
  const listeners = new Set();
  const onData = (/** @type {Buffer} */ chunk) => {
    const text = chunk.toString();
    output += text;
    if (log) for (const line of text.split("\n")) if (line.trim()) log(line);
    for (const listener of listeners) listener();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  /** @type {string | null} */
  let exited = null;
  const exit = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exited = signal ?? `code ${code}`;
      for (const listener of listeners) listener();
      resolve(undefined);
    });
  });

  /** Resolves with `check()`'s first truthy answer, re-checked on every new line of output. */
  const until = (/** @type {() => any} */ check, /** @type {number} */ timeoutMs, what) =>
    new Promise((resolve, reject) => {
      const done = (/** @type {Error | null} */ error, value) => {
        listeners.delete(listener);
        clearTimeout(timer);
        error ? reject(error) : resolve(value);
      };
      const listener = () => {
        const value = check();
        if (value) done(null, value);
        else if (exited)
          done(
            new Error(`celery worker exited (${exited}) before ${what}\n${output.slice(-4000)}`),
          );
      };
      const timer = setTimeout(
        () =>
          done(
            new Error(`celery worker: no ${what} within ${timeoutMs} ms\n${output.slice(-4000)}`),
          ),
        timeoutMs,
      );
      listeners.add(listener);
      listener();
    });

  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      if (exited) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exit;
      clearTimeout(timer);
    })();
    return stopping;
  };

  try {
    await until(() => /\bready\.\s*$/m.test(output), READY_TIMEOUT_MS, "ready line");
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    pid: /** @type {number} */ (child.pid),
    output: () => output,
    stop,
    alive: () => exited === null,
    waitForTask(taskId, timeoutMs = 30_000) {
      // A worker that dies on the task (e.g. an exception escaping Celery's own error handling in
      // the solo pool) ends it too: "exited", with what it logged.
      const outcome = () =>
        taskOutcome(output, taskId) ??
        (exited
          ? { outcome: "exited", lines: [...lastLines(output, 30), `exited: ${exited}`] }
          : null);
      return until(outcome, timeoutMs, `end of task ${taskId}`);
    },
  };
}

/**
 * The task's outcome from Celery's log: "Task <name>[<id>] succeeded in …", "… raised unexpected: …",
 * or an ERROR line naming the task that is neither (Celery failing around the task, e.g. its store).
 * @returns {import("./index.d.ts").WorkerTaskLog | null}
 */
function taskOutcome(output, taskId) {
  const lines = output.split("\n").filter((line) => line.includes(taskId));
  const ended = (/** @type {RegExp} */ pattern) => lines.some((line) => pattern.test(line));
  if (ended(new RegExp(`\\[${escapeRegExp(taskId)}\\] succeeded in`)))
    return { outcome: "succeeded", lines };
  if (ended(new RegExp(`\\[${escapeRegExp(taskId)}\\] raised`)))
    return { outcome: "raised", lines };
  if (ended(/\bERROR\b|CRITICAL/)) return { outcome: "error", lines };
  return null;
}

const lastLines = (text, n) => text.trimEnd().split("\n").slice(-n);

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
