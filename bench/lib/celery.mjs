// Celery's own backend as a bench target: one long-lived bench/celery_bench.py per backend in the
// pinned venv (@resultstore/celery-interop builds it), so its samples alternate with ours.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { ensureCeleryEnv, peerEnv } from "@resultstore/celery-interop";

const SCRIPT = fileURLToPath(new URL("../celery_bench.py", import.meta.url));

/** Celery's URL and settings for `backend`, in a namespace of this run's own. */
export function celeryConfig(backend, url) {
  const u = randomUUID().replaceAll("-", "").slice(0, 8);
  switch (backend) {
    case "mongo":
    case "mongo-java":
      return {
        url,
        settings: {
          mongodb_backend_settings: {
            taskmeta_collection: `bench_celery_${u}_taskmeta`,
            groupmeta_collection: `bench_celery_${u}_groupmeta`,
          },
        },
      };
    case "cassandra":
      return {
        url,
        settings: { cassandra_keyspace: `bench_celery_${u}`, cassandra_table: "celery_taskmeta" },
      };
    case "cosmos":
      return { url, settings: { cosmosdbsql_collection_name: `celerycol_benchcelery_${u}` } };
    case "dynamodb":
      return { url: `${url.replace(/\/$/, "")}/bench_celery_${u}`, settings: {} };
    case "consul":
      // one_client=1 (a Celery URL option): by default Celery builds a client per call, whose
      // sockets stay open until Python's cycle collector runs; ~200 of them exhaust Consul's
      // per-address connection limit (HTTP 429) for every client on this host, ours included.
      return { url: `${url.replace(/\/$/, "")}/bench-celery-${u}?one_client=1`, settings: {} };
    default: // elasticsearch: the index is the URL path
      return { url: `${url.replace(/\/$/, "")}/bench-celery-${u}`, settings: {} };
  }
}

/** Starts the Celery process for `backend`; resolves a target, or rejects with why not. */
export async function createCeleryTarget(backend, url) {
  const python = await ensureCeleryEnv();
  const config = celeryConfig(backend, url);
  const child = spawn(python, [SCRIPT], {
    env: peerEnv({ url: config.url }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c) => {
    stderr = (stderr + c).slice(-4000);
  });
  const waiting = [];
  let buffer = "";
  child.stdout.on("data", (chunk) => {
    buffer += chunk;
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      waiting.shift()?.resolve(JSON.parse(line));
    }
  });
  child.on("close", (code) => {
    for (const w of waiting.splice(0))
      w.reject(new Error(`celery bench exited ${code}: ${stderr.slice(-500)}`));
  });
  const ask = (request) =>
    new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      child.stdin.write(`${JSON.stringify(request)}\n`);
    });
  const answered = async (request) => {
    const answer = await ask(request);
    if (answer.error) throw new Error(answer.error);
    return answer;
  };
  const info = await answered({ cmd: "setup", ...config }).catch((error) => {
    child.kill();
    throw error;
  });
  const ops = new Set(info.ops);
  return {
    name: `Celery ${info.celery} ${info.backend}`,
    celery: info.celery,
    has: (op) => ops.has(op),
    prepare: (ids) => answered({ cmd: "prepare", ids, width: 16 }),
    run: (op, { ids, count, width, maxSeconds }) =>
      answered({ cmd: "measure", op, ids, count, width, max_seconds: maxSeconds }),
    /** Stops a process whose sample ran past its time (its answers would come out of order). */
    abort: () => child.kill(),
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await ask({ cmd: "teardown" }).catch(() => undefined);
      child.stdin.end();
      await new Promise((resolve) =>
        child.exitCode === null ? child.on("close", resolve) : resolve(),
      );
    },
  };
}
