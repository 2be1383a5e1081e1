// Celery's OWN result backends (Python, via interop/celery/peer.py) against the real local servers.
// One describe per backend; a backend runs when its RESULTSTORE_<NAME>_URL is set
// (`node scripts/services/cli.mjs up <name>` then `eval "$(node scripts/services/cli.mjs env)"`).
// Missing URL: a failure under CI, a loud skip elsewhere.
import { randomUUID } from "node:crypto";
import {
  celeryPeer,
  ensureCeleryEnv,
  type PeerRequest,
  type ReadResult,
} from "@resultstore/celery-interop";
import { beforeAll, describe, expect, it } from "vitest";

interface Backend {
  name: string;
  envName: string;
  /** Extra Celery settings for this backend. */
  settings?: PeerRequest["settings"];
  /**
   * What Celery's reader returns of a result_extended store: "kv" = everything (KeyValueStore
   * backends keep the whole meta), "mongo" = extended fields + children but not group_id/parent_id
   * (MongoBackend reads a fixed key list), "none" = children only (Cassandra has no such columns).
   */
  extended: "kv" | "mongo" | "none";
  /**
   * What Celery 5.6 does with a second store to the same task (STARTED, then SUCCESS), as seen on
   * the real servers: "overwrites"; "dropped" (Consul: the new session cannot acquire the key held
   * by the first write's session; kv.put returns false and Celery ignores it); "conflict" (Cosmos:
   * CreateDocument answers 409, which Celery raises).
   */
  secondWrite?: "dropped" | "conflict";
  /** An extra engine: skipped (loudly) when absent, even under CI. */
  optional?: boolean;
}

const BACKENDS: Backend[] = [
  { name: "mongo", envName: "MONGO", extended: "mongo" },
  // A second MongoDB engine, when the services provide it (mongo-java-server).
  { name: "mongo-java", envName: "MONGO_JAVA", extended: "mongo", optional: true },
  {
    name: "cassandra",
    envName: "CASSANDRA",
    // The peer takes servers/port from the URL and creates the keyspace (Celery does not).
    settings: { cassandra_keyspace: "celery_interop", cassandra_table: "celery_taskmeta" },
    extended: "none",
  },
  { name: "dynamodb", envName: "DYNAMODB", extended: "kv" },
  { name: "elasticsearch", envName: "ELASTICSEARCH", extended: "kv" },
  { name: "consul", envName: "CONSUL", extended: "kv", secondWrite: "dropped" },
  // The peer uses https on the local port and trusts RESULTSTORE_COSMOS_CA (never verify=False).
  { name: "cosmos", envName: "COSMOS", extended: "kv", secondWrite: "conflict" },
];

const NESTED = {
  answer: 42,
  ratio: 2.5,
  text: "héllo ✓ 😀",
  flags: [true, false, null],
  nested: { list: [1, [2, [3, { deep: "yes" }]]], empty: {}, none: null },
};

const TRACEBACK =
  'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\n    raise ValueError("boom")\nValueError: boom\n';

let envReady: Promise<string> | undefined;

/** The URL without its userinfo (the Cosmos URL carries the account key). */
function redact(url: string | undefined): string {
  if (!url) return "<no server>";
  const at = url.lastIndexOf("@");
  const scheme = url.indexOf("://");
  return at > scheme && scheme >= 0 ? `${url.slice(0, scheme + 3)}***@${url.slice(at + 1)}` : url;
}

for (const backend of BACKENDS) {
  const urlVar = `RESULTSTORE_${backend.envName}_URL`;
  const url = process.env[urlVar];

  describe(`Celery ${backend.name} backend (Python peer) against ${redact(url)}`, () => {
    if (!url) {
      if (process.env.CI && !backend.optional) {
        it(`server ${backend.name} is configured`, () => {
          throw new Error(`server ${backend.name} missing in CI: ${urlVar} is not set`);
        });
        return;
      }
      console.warn(
        `\n⚠️  SKIPPED Celery interop for ${backend.name}: ${urlVar} is not set. Start it with ` +
          `\`node scripts/services/cli.mjs up ${backend.name}\` and ` +
          `\`eval "$(node scripts/services/cli.mjs env)"\`.\n`,
      );
    }

    beforeAll(async () => {
      if (!url) return;
      // The first run builds the venv (pip install; a few minutes on a cold cache).
      envReady ??= ensureCeleryEnv({ log: (line) => console.error(`[celery-venv] ${line}`) });
      await envReady;
    }, 15 * 60_000);

    const peer = (ops: PeerRequest["ops"], settings: PeerRequest["settings"] = {}) =>
      celeryPeer(
        { url: url as string, settings: { ...backend.settings, ...settings }, ops },
        { timeoutMs: 180_000 },
      );

    it.skipIf(!url)(
      "stores a SUCCESS with a nested JSON value and reads it back equal",
      async () => {
        const taskId = randomUUID();
        const answer = await peer([
          { op: "store", task_id: taskId, state: "SUCCESS", result: NESTED },
          { op: "read", task_id: taskId },
        ]);
        const read = answer.results[1] as ReadResult;
        expect(read.status).toBe("SUCCESS");
        expect(read.result).toEqual(NESTED);
        expect(read.task_id).toBe(taskId);
        expect(read.traceback ?? null).toBeNull();
        expect(read.date_done).toEqual(expect.any(String));
        expect(read.async_result.state).toBe("SUCCESS");
        expect(read.async_result.result).toEqual(NESTED);
        expect(read.async_result.date_done_type).toBe("datetime");
      },
      240_000,
    );

    it.skipIf(!url)(
      "stores a FAILURE with ValueError('boom') and its traceback and reads back the exception",
      async () => {
        const taskId = randomUUID();
        const answer = await peer([
          {
            op: "store",
            task_id: taskId,
            state: "FAILURE",
            exception: { type: "ValueError", module: "builtins", args: ["boom"] },
            traceback: TRACEBACK,
          },
          { op: "read", task_id: taskId },
        ]);
        const read = answer.results[1] as ReadResult;
        expect(read.status).toBe("FAILURE");
        // Celery rebuilt a real ValueError (result_type) from what it stored.
        expect(read.result_type).toBe("ValueError");
        expect(read.result).toEqual({
          exc_type: "ValueError",
          exc_message: ["boom"],
          exc_module: "builtins",
        });
        expect(read.traceback).toBe(TRACEBACK);
        expect(read.async_result.state).toBe("FAILURE");
        expect(read.async_result.result).toEqual({
          exc_type: "ValueError",
          exc_message: ["boom"],
          exc_module: "builtins",
        });
        expect(read.async_result.traceback).toBe(TRACEBACK);
      },
      240_000,
    );

    it.skipIf(!url)(
      "reads an unknown task id as PENDING",
      async () => {
        const answer = await peer([{ op: "read", task_id: randomUUID() }]);
        const read = answer.results[0] as ReadResult;
        expect(read.status).toBe("PENDING");
        expect(read.result).toBeNull();
      },
      240_000,
    );

    it.skipIf(!url)(
      `second store to one task (STARTED then SUCCESS): ${backend.secondWrite ?? "overwrites"}`,
      async () => {
        const taskId = randomUUID();
        const answer = await celeryPeer(
          {
            url: url as string,
            settings: backend.settings ?? {},
            ops: [
              { op: "store", task_id: taskId, state: "STARTED", result: { pid: 1, hostname: "w" } },
              { op: "store", task_id: taskId, state: "SUCCESS", result: NESTED },
              { op: "read", task_id: taskId },
            ],
            allowErrors: true,
          },
          { timeoutMs: 180_000 },
        );
        const [first, second, read] = answer.results as [unknown, unknown, ReadResult];
        expect(first).toEqual({ pid: 1, hostname: "w" });
        if (backend.secondWrite === "conflict") {
          expect(second).toMatchObject({ error: { type: "HTTPFailure", status_code: 409 } });
        } else {
          expect(second).toEqual(NESTED); // store_result returned normally
        }
        if (backend.secondWrite) {
          expect(read.status).toBe("STARTED");
          expect(read.result).toEqual({ pid: 1, hostname: "w" });
        } else {
          expect(read.status).toBe("SUCCESS");
          expect(read.result).toEqual(NESTED);
        }
      },
      240_000,
    );

    it.skipIf(!url)(
      "stores a worker-style result (result_extended, group, parent, children) and reads it back",
      async () => {
        const taskId = randomUUID();
        const [groupId, parentId, childId] = [randomUUID(), randomUUID(), randomUUID()];
        const request = {
          name: "tasks.add",
          args: [40, 2],
          kwargs: { z: { deep: [1, 2] } },
          hostname: "celery@interop",
          retries: 1,
          delivery_info: { routing_key: "celery" },
          group: groupId,
          parent_id: parentId,
          children: [childId],
        };
        let answer: Awaited<ReturnType<typeof peer>>;
        try {
          answer = await peer(
            [
              { op: "store", task_id: taskId, state: "SUCCESS", result: 42, request },
              { op: "read", task_id: taskId },
            ],
            { result_extended: true },
          );
        } catch (err) {
          // FerretDB 1.x rejects nested arrays, and Celery stores children as [[id, null], null].
          if (/nested arrays are not supported/.test(String(err))) {
            // FerretDB 1.x's documented limit (README): pinned here, only for the FerretDB target,
            // so the day FerretDB stores nested arrays this branch stops being taken.
            expect(backend.name).toBe("mongo");
            console.warn(
              `\n⚠️  ${backend.name}: the engine rejects nested arrays, so Celery's MongoBackend ` +
                "cannot store a task that has children (see README).\n",
            );
            return;
          }
          throw err;
        }
        const read = answer.results[1] as ReadResult;
        expect(read.status).toBe("SUCCESS");
        expect(read.result).toBe(42);
        expect(read.children).toEqual([[[childId, null], null]]);
        if (backend.extended !== "none") {
          expect(read).toMatchObject({
            name: "tasks.add",
            args: [40, 2],
            kwargs: { z: { deep: [1, 2] } },
            worker: "celery@interop",
            retries: 1,
            queue: "celery",
          });
        } else {
          expect(read.name).toBeUndefined();
        }
        if (backend.extended === "kv") {
          expect(read.group_id).toBe(groupId);
          expect(read.parent_id).toBe(parentId);
        } else {
          expect(read.group_id).toBeUndefined();
        }
      },
      240_000,
    );
  });
}
