/**
 * Broken backends, for proving the checker under faults (`--mutants`): each wraps the real
 * memory backend and breaks one rule, the way a real backend bug would, and runs through the real
 * runner (client processes, the memory server paused and its connections cut). The checker must
 * report one of the kinds listed for it; a mutant it lets pass is a blind spot.
 *
 * A mutant breaks either the server (memory-server.ts wraps its MemoryBackend: the bug is in the
 * database, shared by every client) or each client (targets.ts wraps the backend a client opens:
 * the bug is in the driver or the backend package).
 */
import {
  BackendConnectionError,
  BackendUnavailableError,
  encodeJson,
  MemoryBackend,
  type ResultBackend,
  type TaskWrite,
  type WriteOutcome,
  WriteOutcomeUnknownError,
} from "@resultstore/core";
import type { ViolationKind } from "./checker.js";

export interface Mutant {
  name: string;
  /** The bug, in a line. */
  bug: string;
  /** One of these must be reported. */
  caughtAs: ViolationKind[];
  /** A MemoryBackend with the bug, for the memory server. */
  server?: () => MemoryBackend;
  /** The client's backend with the bug; `url` is the client's URL (with its secrets). */
  client?: (backend: ResultBackend, url: string) => ResultBackend;
}

const chance = (p: number) => Math.random() < p;

/** `backend` with some methods replaced; every other one still goes to it. */
function override(backend: ResultBackend, methods: Partial<ResultBackend>): ResultBackend {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop in methods) return methods[prop as keyof ResultBackend];
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The stored record as a write that puts it back, with `metadata` instead of its own. */
function rewrite(
  taskId: string,
  stored: NonNullable<Awaited<ReturnType<MemoryBackend["read"]>>>,
  metadata: Record<string, unknown>,
): TaskWrite {
  return {
    ...stored,
    taskId,
    resultJson: encodeJson(stored.result),
    metadata,
  } as TaskWrite;
}

/** Every refusal answered "outcome unknown", as a backend that reads a version gap as a re-send. */
const refusalUnknown: Mutant = {
  name: "refusal-unknown",
  bug: "every refusal is answered WriteOutcomeUnknownError",
  caughtAs: ["indeterminate-excess"],
  client: (backend) =>
    override(backend, {
      async write(write: TaskWrite): Promise<WriteOutcome> {
        const outcome = await backend.write(write);
        if (!outcome.applied) throw new WriteOutcomeUnknownError(backend.name, write.taskId);
        return outcome;
      },
    }),
};

/** A merge that now and then loses a key it had stored. */
class DropsKey extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const stored = await this.read(write.taskId);
    const keys = Object.keys(stored?.metadata ?? {});
    if (stored && keys.length > 1 && chance(0.1)) {
      const metadata = { ...stored.metadata };
      delete metadata[keys[Math.floor(Math.random() * keys.length)] as string];
      // No other request runs between these awaits (the server handles each on a macrotask).
      await this.remove(write.taskId);
      await super.write(rewrite(write.taskId, stored, metadata));
    }
    return super.write(write);
  }
}

/** Writes without the state rules: whatever comes last wins (metadata still merged). */
class BlindOverwrite extends MemoryBackend {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    const stored = await this.read(write.taskId);
    await this.remove(write.taskId);
    return super.write({ ...write, metadata: { ...stored?.metadata, ...write.metadata } });
  }
}

/** Counters that ignore `expires`: an expiring counter never restarts. */
class CounterNeverExpires extends MemoryBackend {
  override incr(key: string, by: number): Promise<number> {
    return super.incr(key, by, null);
  }
}

/** A member set that is no set: every delivery, redeliveries too, counts as a new member. */
class ChordCountsRedeliveries extends MemoryBackend {
  private readonly adds = new Map<string, number>();
  override async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    await super.addToSet(key, member, expiresAt);
    const n = (this.adds.get(key) ?? 0) + 1;
    this.adds.set(key, n);
    return n;
  }
}

/** The chord's claim record written without the state rules: every claim wins. */
class ClaimWithoutRules extends BlindOverwrite {
  override async write(write: TaskWrite): Promise<WriteOutcome> {
    if (write.taskId.startsWith("chord-claim")) return super.write(write);
    return MemoryBackend.prototype.write.call(this, write);
  }
}

export const MUTANTS: readonly Mutant[] = [
  refusalUnknown,
  {
    name: "merge-drops-key",
    bug: "a write's merge sometimes drops a key stored before",
    caughtAs: ["metadata-lost", "read-went-back"],
    server: () => new DropsKey(),
  },
  {
    name: "blind-overwrite",
    bug: "no state rules: a late STARTED replaces SUCCESS",
    caughtAs: ["success-changed", "ready-regressed", "acknowledged-write-lost"],
    server: () => new BlindOverwrite(),
  },
  {
    name: "resent-incr-counted-twice",
    bug: "an increment re-sent by the driver counts twice (one in ten), the caller hears one answer",
    caughtAs: ["counter-skipped", "counter-mismatch"],
    client: (backend) =>
      override(backend, {
        async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
          const value = await backend.incr(key, by, expiresAt);
          if (!chance(0.1)) return value;
          // The first copy's answer "was lost"; the re-sent copy counts again and answers.
          return backend.incr(key, by, expiresAt);
        },
      }),
  },
  {
    name: "cache-leaks-local-changes",
    bug: "a version cache shares the read record with the caller and merges it into the next write",
    caughtAs: ["metadata-unwritten"],
    client: (backend) => {
      const cache = new Map<string, Record<string, unknown>>();
      return override(backend, {
        async read(taskId: string) {
          const record = await backend.read(taskId);
          if (record) cache.set(taskId, record.metadata);
          return record; // the caller gets the very object the cache holds
        },
        async write(write: TaskWrite): Promise<WriteOutcome> {
          const cached = cache.get(write.taskId);
          const metadata = cached ? Object.assign(cached, write.metadata) : write.metadata;
          return backend.write(metadata ? { ...write, metadata } : write);
        },
      });
    },
  },
  {
    name: "stale-read",
    bug: "a read cache answers an old copy of the record now and then",
    caughtAs: ["read-went-back", "metadata-lost", "ready-regressed", "success-changed"],
    client: (backend) => {
      const first = new Map<string, Awaited<ReturnType<ResultBackend["read"]>>>();
      return override(backend, {
        async read(taskId: string) {
          const record = await backend.read(taskId);
          const old = first.get(taskId);
          if (old === undefined) first.set(taskId, record);
          else if (chance(0.3)) return old;
          return record;
        },
        readMany: undefined,
      });
    },
  },
  {
    name: "unavailable-but-sent",
    bug: 'a write that landed is answered "nothing was sent" (BackendUnavailableError)',
    caughtAs: ["failed-call-visible"],
    client: (backend) =>
      override(backend, {
        async write(write: TaskWrite): Promise<WriteOutcome> {
          const outcome = await backend.write(write);
          if (outcome.applied && chance(0.05))
            throw new BackendUnavailableError(backend.name, "no host is up");
          return outcome;
        },
      }),
  },
  {
    name: "counter-never-expires",
    bug: "counters ignore expires: an expired counter goes on counting",
    caughtAs: ["counter-skipped"],
    server: () => new CounterNeverExpires(),
  },
  {
    name: "chord-counts-redeliveries",
    bug: "a redelivered chord member counts again (the member set is no set)",
    caughtAs: ["chord-fired-early"],
    server: () => new ChordCountsRedeliveries(),
  },
  {
    name: "chord-claim-without-rules",
    bug: "the chord's claim is written without the state rules, so every claim wins",
    caughtAs: ["chord-fired-twice"],
    server: () => new ClaimWithoutRules(),
  },
  {
    name: "secret-in-base64",
    bug: "an error shows the URL's token, base64-encoded (as in an Authorization header), in 5% of reads",
    caughtAs: ["secret-leaked"],
    client: (backend, url) => {
      const token = new URL(url).searchParams.get("token") ?? "";
      return override(backend, {
        async read(taskId: string) {
          if (chance(0.05))
            throw new BackendConnectionError(
              backend.name,
              `read ${taskId}: 401 for authorization: Basic ${Buffer.from(`proof:${token}`).toString("base64")}`,
            );
          return backend.read(taskId);
        },
      });
    },
  },
];

export function mutantNamed(name: string): Mutant {
  const mutant = MUTANTS.find((m) => m.name === name);
  if (!mutant) throw new Error(`unknown mutant ${name}`);
  return mutant;
}
