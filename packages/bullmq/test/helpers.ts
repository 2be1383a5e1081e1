/** Test helpers: the real Redis, the stores the tests run on, and queues that clean up after themselves. */
import { randomUUID } from "node:crypto";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { type ConnectionOptions, type Processor, Queue, Worker, type WorkerOptions } from "bullmq";

export const redis = serverTarget("REDIS");

/** BullMQ's connection options for the redis:// URL of the services. */
export function connectionOf(url: string): ConnectionOptions {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}

/** The stores every test runs on: memory:// always, and two real databases. */
export interface StoreTarget {
  label: string;
  url: string | undefined;
  reason: string;
}

export function storeTargets(): StoreTarget[] {
  const dynamodb = serverTarget("DYNAMODB");
  const elasticsearch = serverTarget("ELASTICSEARCH");
  return [
    { label: "memory", url: "memory://", reason: "" },
    { label: "dynamodb", ...dynamodb },
    { label: "elasticsearch", ...elasticsearch },
  ];
}

/** A store in a namespace of its own (a table, an index) so runs never see each other's records. */
export function freshStore(url: string): Promise<ResultStore> {
  const namespace = `bullmq_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
  return createStore({ url, backendOptions: { namespace } });
}

/**
 * Queues and workers on the real Redis, each queue under a fresh name; `close()` stops the workers
 * and deletes every key the queues wrote.
 */
export class Harness {
  readonly connection: ConnectionOptions;
  private readonly queues: Queue[] = [];
  private readonly workers: Worker[] = [];

  constructor(url: string) {
    this.connection = connectionOf(url);
  }

  queue(label = "q"): Queue {
    const queue = new Queue(`rs-${label}-${randomUUID().slice(0, 8)}`, {
      connection: this.connection,
    });
    this.queues.push(queue);
    return queue;
  }

  worker<D, R>(
    queue: Queue,
    processor: Processor<D, R>,
    options: Partial<WorkerOptions> = {},
  ): Worker<D, R> {
    const worker = new Worker<D, R>(queue.name, processor, {
      connection: this.connection,
      ...options,
    });
    // A test's own lost locks (the stalled scenarios) surface here; they are expected there.
    worker.on("error", () => {});
    this.workers.push(worker as unknown as Worker);
    return worker;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close(true)));
    for (const queue of this.queues) {
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    }
  }
}

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A promise with its resolver, for gating a processor from the test. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
