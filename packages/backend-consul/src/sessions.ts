/**
 * Consul expires keys only through sessions: we share one per expiry bucket, and every write is the
 * check-and-set below, which moves the key's lock to its bucket's session (README: "Expiry").
 */
import { ValueTooLargeError } from "@resultstore/core";
import { LOST_RACE, retryLostRaces, type WarnOnce, warnOnce } from "@resultstore/core/backend";
import type { ConsulClient, KvEntry, TxnOp } from "./client.js";
import { BACKEND_NAME, type ResolvedConfig } from "./config.js";
import { errors } from "./errors.js";
import { MAX_VALUE_BYTES } from "./records.js";

/** Consul's bounds on a session TTL (`session_ttl_min` default, and its hard maximum). */
const MIN_SESSION_TTL_SECONDS = 10;
const MAX_SESSION_TTL_SECONDS = 86_400;
const MAX_BUCKET_MS = 60_000;

/** Lock failures on one write (the guard passed) before it is written without a session. */
const MAX_LOCK_FAILURES = 3;

/** What a write decides from the entry it read: a new value, or nothing to write. */
export type Change<T> = { value: string; expiresAt: Date | null; result: T } | { skip: T };
type Decide<T> = (entry: KvEntry | null) => Change<T>;

export class ExpirySessions {
  /** Bucket end (epoch ms) → the session whose TTL reaches it. */
  private readonly byBucket = new Map<number, Promise<string>>();
  /** Sessions we created → when Consul has surely invalidated them (2× TTL), for `destroy()`. */
  private readonly created = new Map<string, number>();
  private readonly warn: WarnOnce;
  /** The one look at which node our sessions land on (see `checkNode`). */
  private nodeChecked: Promise<void> | undefined;

  constructor(
    private readonly client: ConsulClient,
    private readonly config: ResolvedConfig,
  ) {
    this.warn = warnOnce(BACKEND_NAME, config.warn);
  }

  /**
   * Reads `key`, lets `decide`, commits guarded by the ModifyIndex read, reads again when that lost
   * (README: "How the guard…"). `tryCreate`: first a create without reading (new keys: 1 trip).
   */
  checkAndSet<T>(what: string, key: string, decide: Decide<T>, tryCreate = false): Promise<T> {
    let lockFailures = 0;
    const attempt = async (entry: KvEntry | null) => {
      const change = decide(entry);
      if ("skip" in change) return change.skip;
      const size = Buffer.byteLength(change.value);
      if (size > MAX_VALUE_BYTES) throw new ValueTooLargeError(BACKEND_NAME, size, MAX_VALUE_BYTES);
      const locked = this.config.sessionExpiry && lockFailures < MAX_LOCK_FAILURES;
      const session = locked ? await this.sessionFor(change.expiresAt) : null;
      const failures = await this.client.txn(writeOps(key, entry, session, change.value));
      if (!failures) return change.result;
      // Op 0 is the guard: someone wrote first. A later op is the lock move: our session is gone,
      // or a dead foreign session's lock-delay holds the key (README: "Lock-delay…").
      for (const failure of failures.filter((f) => f.opIndex > 0)) {
        if (session && failure.what.includes("invalid session")) this.forget(session);
        lockFailures = failure.what.includes("lock delay") ? MAX_LOCK_FAILURES : lockFailures + 1;
      }
      return LOST_RACE;
    };
    return errors.guard(what, async () => {
      const created = tryCreate ? await attempt(null) : LOST_RACE;
      if (created !== LOST_RACE) return created;
      lockFailures = 0; // a failed create's lock failures don't count: the key may exist
      const read = async () => attempt(await this.client.get(key, true));
      return retryLostRaces(BACKEND_NAME, what, read, this.config.maxCasAttempts);
    });
  }

  /** Destroys every session we created (which deletes the keys they hold). */
  async destroyAll(): Promise<void> {
    const ids = [...this.created.keys()];
    this.byBucket.clear();
    this.created.clear();
    await Promise.all(ids.map((id) => this.client.destroySession(id)));
  }

  /** The session a key expiring at `expiresAt` should be locked by; null: no native expiry. */
  private sessionFor(expiresAt: Date | null): Promise<string> | null {
    if (expiresAt === null) return null;
    const now = Date.now();
    const lifetimeMs = expiresAt.getTime() - now;
    if (lifetimeMs > MAX_SESSION_TTL_SECONDS * 1000) {
      // Clamping to 24 h would delete the record early; leave it to read-hiding and cleanup().
      this.warn(
        "long",
        `Expiries beyond ${MAX_SESSION_TTL_SECONDS} s exceed Consul's session TTL cap: those ` +
          "records get no native expiry; they are hidden on read once expired and removed by cleanup().",
      );
      return null;
    }
    // ~1% of the lifetime in whole seconds, from 1 s to 60 s.
    const width = Math.min(MAX_BUCKET_MS, Math.max(1000, Math.ceil(lifetimeMs / 100_000) * 1000));
    const bucketEnd = Math.ceil(expiresAt.getTime() / width) * width;
    const existing = this.byBucket.get(bucketEnd);
    if (existing) return existing;
    for (const bucket of this.byBucket.keys()) if (bucket <= now) this.byBucket.delete(bucket);
    for (const [id, gone] of this.created) if (gone <= now) this.created.delete(id);
    const session = this.create(bucketEnd, now);
    this.byBucket.set(bucketEnd, session);
    // A failed create must not poison the bucket: the next write tries again.
    session.catch(() => this.byBucket.delete(bucketEnd));
    return session;
  }

  /** Forgets a session Consul no longer knows (expired early, destroyed, or a restarted agent). */
  private forget(sessionId: string): void {
    for (const [bucket, promise] of this.byBucket) {
      const drop = (id: string) => id === sessionId && this.byBucket.get(bucket) === promise;
      promise.then((id) => drop(id) && this.byBucket.delete(bucket)).catch(() => {});
    }
  }

  /** Warns once when our sessions would live on a client's node (README: "A session dies…"). */
  private async checkNode(): Promise<void> {
    if (this.config.sessionNode) return;
    const self = await this.client.agentSelf().catch(() => null); // a token may not read it
    if (!self || self.server) return;
    this.warn(
      "node",
      `Expiry sessions live on the node of client agent ${self.node}: if it leaves the cluster ` +
        "or is deregistered, Consul deletes every record they hold, live or not. Set `sessionNode` " +
        "to a server's node, or `sessionExpiry: false` (see the README).",
    );
  }

  private async create(bucketEnd: number, now: number): Promise<string> {
    this.nodeChecked ??= this.checkNode();
    await this.nodeChecked;
    const wanted = Math.ceil((bucketEnd - now) / 1000);
    if (wanted < MIN_SESSION_TTL_SECONDS) {
      this.warn(
        "short",
        `Expiries under Consul's ${MIN_SESSION_TTL_SECONDS} s session minimum are clamped: such ` +
          "records are hidden on read at their expiry and deleted by Consul 10-20 s after the write.",
      );
    }
    const ttl = Math.min(Math.max(wanted, MIN_SESSION_TTL_SECONDS), MAX_SESSION_TTL_SECONDS);
    const until = new Date(bucketEnd).toISOString();
    const name = `resultstore ${this.config.keyPrefix || "/"} until ${until}`;
    const id = await this.client.createSession(name, ttl);
    this.created.set(id, now + 2 * ttl * 1000);
    return id;
  }
}

/** One write's transaction: the guard, then the move of the key's lock to `session` (README). */
export function writeOps(
  key: string,
  entry: KvEntry | null,
  session: string | null,
  value: string,
): TxnOp[] {
  const guard: TxnOp = entry
    ? { verb: "check-index", key, index: entry.modifyIndex }
    : { verb: "check-not-exists", key };
  const held = entry?.session ?? null;
  if (held === session) return [guard, { verb: "set", key, value }];
  const ops: TxnOp[] = [guard];
  // Released without a new holder, the unlock carries the value.
  if (held) ops.push({ verb: "unlock", key, session: held, value: session ? undefined : value });
  if (session) ops.push({ verb: "lock", key, value, session });
  return ops;
}
