/**
 * Native expiry through Consul sessions (TTL, behavior=delete), shared by many keys.
 *
 * Celery creates one session per write. We keep one session per expiry bucket instead: every key
 * whose `expiresAt` falls in the same bucket (1–60 s wide, ~1% of the expiry) is locked by the
 * same session, whose TTL reaches the bucket's end. Consul guarantees a session lives at least its
 * TTL (and deletes within 2× TTL), so no key is deleted before its `expiresAt`. A session is
 * created lazily on the first write that needs it: one extra round trip per bucket, not per write.
 */
import { tagMessage } from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";
import type { ConsulKv } from "./kv.js";

/** Consul's bounds on a session TTL (`session_ttl_min` default, and its hard maximum). */
export const MIN_SESSION_TTL_SECONDS = 10;
export const MAX_SESSION_TTL_SECONDS = 86_400;

const MAX_BUCKET_MS = 60_000;

export class ExpirySessions {
  /** Bucket end (epoch ms) → the session whose TTL reaches it. */
  private readonly byBucket = new Map<number, Promise<string>>();
  /** Sessions we created → when Consul has surely invalidated them (2× TTL), for `destroy()`. */
  private readonly created = new Map<string, number>();
  private readonly warned = new Set<string>();
  /** The one look at which node our sessions land on (see `checkNode`). */
  private nodeChecked: Promise<void> | undefined;

  constructor(
    private readonly kv: ConsulKv,
    private readonly label: string,
    private readonly warn: (message: string) => void,
    private readonly sessionNode?: string,
  ) {}

  /** The session a key expiring at `expiresAt` should be locked by; null: no native expiry. */
  sessionFor(expiresAt: Date | null, now: number = Date.now()): Promise<string> | null {
    if (expiresAt === null) return null;
    const lifetimeMs = expiresAt.getTime() - now;
    if (lifetimeMs > MAX_SESSION_TTL_SECONDS * 1000) {
      // Clamping to 24 h would delete the record early; leave it to read-hiding and cleanup().
      this.warnOnce(
        "long",
        `Expiries beyond ${MAX_SESSION_TTL_SECONDS} s exceed Consul's session TTL cap: ` +
          "those records get no native expiry; they are hidden on read once expired and removed by cleanup().",
      );
      return null;
    }
    const width = Math.min(
      MAX_BUCKET_MS,
      Math.max(1000, Math.ceil(lifetimeMs / 100 / 1000) * 1000),
    );
    const bucketEnd = Math.ceil(expiresAt.getTime() / width) * width;
    const existing = this.byBucket.get(bucketEnd);
    if (existing) return existing;
    this.evictEnded(now);
    const session = this.create(bucketEnd, now);
    this.byBucket.set(bucketEnd, session);
    // A failed create must not poison the bucket: the next write tries again.
    session.catch(() => this.byBucket.delete(bucketEnd));
    return session;
  }

  /** Forgets a session Consul no longer knows (expired early, destroyed, or a restarted agent). */
  forget(sessionId: string): void {
    for (const [bucket, promise] of this.byBucket) {
      void promise.then(
        (id) => {
          if (id === sessionId && this.byBucket.get(bucket) === promise)
            this.byBucket.delete(bucket);
        },
        () => {},
      );
    }
  }

  /** Destroys every session we created (which deletes the keys they hold). */
  async destroyAll(): Promise<void> {
    const ids = [...this.created.keys()];
    this.byBucket.clear();
    this.created.clear();
    await Promise.all(ids.map((id) => this.kv.destroySession(id)));
  }

  /**
   * Warns once when our sessions would live on a client agent's node: a session dies with its
   * node, so a client agent leaving the cluster deletes every record they hold (README). Servers
   * leave far more rarely; a token that may not read the agent gets no warning.
   */
  private async checkNode(): Promise<void> {
    if (this.sessionNode) return;
    const self = await this.kv.agentSelf().catch(() => null);
    if (!self || self.server) return;
    this.warnOnce(
      "node",
      `Expiry sessions live on the node of client agent ${self.node}: if it leaves the cluster ` +
        "or is deregistered, Consul deletes every record they hold, live or not. Set `sessionNode` " +
        "to a server's node, or `sessionExpiry: false` (see the README).",
    );
  }

  private async create(bucketEnd: number, now: number): Promise<string> {
    this.nodeChecked ??= this.checkNode();
    await this.nodeChecked;
    let ttl = Math.ceil((bucketEnd - now) / 1000);
    if (ttl < MIN_SESSION_TTL_SECONDS) {
      this.warnOnce(
        "short",
        `Expiries under Consul's ${MIN_SESSION_TTL_SECONDS} s session minimum are clamped: ` +
          "such records are hidden on read at their expiry and deleted by Consul 10-20 s after the write.",
      );
      ttl = MIN_SESSION_TTL_SECONDS;
    }
    ttl = Math.min(ttl, MAX_SESSION_TTL_SECONDS);
    const id = await this.kv.createSession(
      `resultstore ${this.label} until ${new Date(bucketEnd).toISOString()}`,
      ttl,
    );
    this.created.set(id, now + 2 * ttl * 1000);
    return id;
  }

  private evictEnded(now: number): void {
    for (const bucket of this.byBucket.keys()) if (bucket <= now) this.byBucket.delete(bucket);
    for (const [id, gone] of this.created) if (gone <= now) this.created.delete(id);
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.warn(tagMessage(BACKEND_NAME, message));
  }
}
