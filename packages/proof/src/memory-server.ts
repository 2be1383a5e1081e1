/**
 * The memory backend as a server, so the proof can run it like every other engine: several client
 * processes share one `MemoryBackend`, and the runner can kill, pause and cut it. Each call is one
 * HTTP request whose body is `[method, ...args]` in core's Celery JSON (dates and big integers
 * survive); the MemoryBackend runs each call without interleaving, as a database would.
 * It keeps everything in memory: a kill is a reset.
 *
 *   node dist/memory-server.js PORT [MUTANT]   (MUTANT: a server-side mutant of mutants.ts)
 */
import { createServer } from "node:http";
import {
  type BackendCapabilities,
  BackendConnectionError,
  BackendError,
  decodeJson,
  encodeJson,
  type GroupRecord,
  MemoryBackend,
  type ResultBackend,
  type TaskRecord,
  type TaskWrite,
  type WriteOutcome,
} from "@resultstore/core";
import { mutantNamed } from "./mutants.js";

const METHODS = new Set([
  "write",
  "read",
  "readMany",
  "remove",
  "incr",
  "removeCounter",
  "addToSet",
  "saveGroup",
  "readGroup",
  "removeGroup",
  "cleanup",
  "destroy",
]);

/** Serves one MemoryBackend (or a mutant's broken one) on 127.0.0.1:port until the process ends. */
export function serveMemoryBackend(port: number, mutant?: string): Promise<() => Promise<void>> {
  const make = mutant ? mutantNamed(mutant).server : undefined;
  const backend = (make ? make() : new MemoryBackend()) as unknown as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      try {
        const [method, ...args] = decodeJson(Buffer.concat(chunks).toString()) as [
          string,
          ...unknown[],
        ];
        if (!METHODS.has(method)) throw new Error(`unknown method ${method}`);
        const value = await (backend[method] as (...a: unknown[]) => Promise<unknown>).apply(
          backend,
          args,
        );
        res.writeHead(200, { "content-type": "application/json" });
        res.end(encodeJson({ value: value ?? null }));
      } catch (error) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(encodeJson({ error: String((error as Error).message) }));
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () =>
      resolve(() => new Promise<void>((done) => server.close(() => done()))),
    );
  });
}

/** A client of that server: the MemoryBackend's contract, over loopback HTTP. */
export class RemoteMemoryBackend implements ResultBackend {
  readonly name = "memory";
  readonly capabilities: BackendCapabilities = {
    nativeExpiry: false,
    maxRecordBytes: 16 * 1024 * 1024,
  };

  constructor(private readonly endpoint: string) {}

  private async call<T>(method: string, ...args: unknown[]): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        body: encodeJson([method, ...args]),
        headers: { "content-type": "application/json" },
      });
    } catch (cause) {
      throw new BackendConnectionError(this.name, `${method}: the memory server is unreachable`, {
        cause,
      });
    }
    let body: { value?: unknown; error?: string };
    try {
      body = decodeJson(await response.text()) as typeof body;
    } catch (cause) {
      throw new BackendConnectionError(this.name, `${method}: the answer was cut off`, { cause });
    }
    if (body.error !== undefined) throw new BackendError(this.name, `${method}: ${body.error}`);
    return body.value as T;
  }

  write(write: TaskWrite): Promise<WriteOutcome> {
    return this.call("write", write);
  }
  read(taskId: string): Promise<TaskRecord | null> {
    return this.call("read", taskId);
  }
  remove(taskId: string): Promise<void> {
    return this.call("remove", taskId);
  }
  incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.call("incr", key, by, expiresAt);
  }
  removeCounter(key: string): Promise<void> {
    return this.call("removeCounter", key);
  }
  addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.call("addToSet", key, member, expiresAt);
  }
  saveGroup(group: GroupRecord): Promise<void> {
    return this.call("saveGroup", group);
  }
  readGroup(groupId: string): Promise<GroupRecord | null> {
    return this.call("readGroup", groupId);
  }
  removeGroup(groupId: string): Promise<void> {
    return this.call("removeGroup", groupId);
  }
  cleanup(now: Date): Promise<number> {
    return this.call("cleanup", now);
  }
  destroy(): Promise<void> {
    return this.call("destroy");
  }
  async close(): Promise<void> {}
  isRetryable(error: unknown): boolean {
    return error instanceof BackendConnectionError;
  }
}

if (process.argv[1]?.endsWith("memory-server.js")) {
  const port = Number(process.argv[2]);
  serveMemoryBackend(port, process.argv[3]).then(
    () => process.stdout.write(`memory server on 127.0.0.1:${port}\n`),
    (error: Error) => {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    },
  );
}
