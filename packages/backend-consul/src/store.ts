/**
 * `ConsulBackend`: Celery's Consul key layout with every write a check-and-set transaction.
 *
 * A write reads the key (value + ModifyIndex + lock holder), lets core's `applyWrite` decide, and
 * commits through /v1/txn guarded by `check-index` (or `check-not-exists`): if anyone wrote in
 * between, Consul rolls the whole transaction back and we read again. The same transaction moves
 * the key's lock from the session it has to the session of its new expiry bucket (unlock + lock),
 * so a write is never refused for a lock another session holds — the way Celery's second write
 * to a key is silently dropped.
 */
import {
  type BackendCapabilities,
  BackendError,
  type BackendTelemetry,
  type BackendUrlOptions,
  ConfigurationError,
  type GroupRecord,
  type ResultBackend,
  type TaskRecord,
  type TaskWrite,
  ValueTooLargeError,
  type WriteOutcome,
} from "@resultstore/core";
import {
  applyWrite,
  assertRecordFits,
  CHORD_UNLOCK_KEY_PREFIX,
  GROUP_KEY_PREFIX,
  isExpired,
  LazyConnection,
  LOST_RACE,
  mergeUrlOptions,
  retryLostRaces,
  TASK_KEY_PREFIX,
} from "@resultstore/core/backend";
import { BACKEND_NAME, type ConsulConfig, optionsFromUrl, resolveConfig } from "./config.js";
import { errors } from "./errors.js";
import { ConsulKv, type KvEntry, type TxnOp } from "./kv.js";
import {
  decodeCounter,
  decodeGroup,
  decodeSet,
  decodeTask,
  encodeCounter,
  encodeGroup,
  encodeSet,
  encodeTask,
  MAX_RECORD_BYTES,
  MAX_VALUE_BYTES,
  storedExpiry,
  storedWriteId,
} from "./records.js";
import { ExpirySessions } from "./sessions.js";
import type { ConsulBackendOptions } from "./types.js";

/** What an update decides from the entry it read: a new value, or nothing to write. */
type Change<T> = { value: string; expiresAt: Date | null; result: T } | { skip: T };

/** Lock failures on one write (the guard passed) before it is written without a session. */
const LOCK_FAILURES_BEFORE_UNLOCKED_WRITE = 3;
/** Keys whose values cleanup() reads per round trip (one read-only transaction). */
const CLEANUP_PAGE = 64;
/**
 * The folder sets live in (`<prefix>resultstore-sets/<key>`): ids never hold a "/", so no task,
 * group or counter key can be a set's, and a set never shares its key with a counter.
 */
export const SETS_FOLDER = "resultstore-sets/";
/** Task keys this process remembers having seen exist (oldest forgotten first). */
const SEEN_KEYS = 10_000;

/**
 * Keys this process saw exist (wrote, or read back). A write of any other key first tries the
 * one-round-trip create (`check-not-exists`), which is what a new task id needs; a key another
 * process created costs that failed attempt on top of the usual read + check-and-set.
 */
class SeenKeys {
  private readonly keys = new Set<string>();
  has(key: string): boolean {
    return this.keys.has(key);
  }
  add(key: string): void {
    this.keys.delete(key);
    this.keys.add(key);
    if (this.keys.size > SEEN_KEYS) this.keys.delete(this.keys.values().next().value as string);
  }
  delete(key: string): void {
    this.keys.delete(key);
  }
}

interface Client {
  kv: ConsulKv;
  sessions: ExpirySessions;
}

/** Results in Consul KV, readable by Celery's `consul://` backend (options: `ConsulBackendOptions`). */
export class ConsulBackend implements ResultBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  readonly telemetry: BackendTelemetry;
  private readonly config: ConsulConfig;
  /** There is no connection to open (HTTP keep-alive does that): the first call builds the client. */
  private readonly connection = new LazyConnection<Client>(BACKEND_NAME, async () => {
    const kv = new ConsulKv(this.config);
    const sessions = new ExpirySessions(
      kv,
      this.config.keyPrefix || "/",
      this.config.warn,
      this.config.sessionNode,
    );
    return { kv, sessions };
  });
  private readonly seen = new SeenKeys();

  constructor(options: ConsulBackendOptions = {}) {
    this.config = resolveConfig(options);
    this.capabilities = {
      nativeExpiry: this.config.sessionExpiry,
      maxRecordBytes: MAX_RECORD_BYTES,
    };
    this.telemetry = {
      system: "consul", // not a registered db.system.name value
      collection: this.config.keyPrefix || undefined,
      serverAddress: this.config.host,
      serverPort: this.config.port,
    };
  }

  /** The key prefix every key of this store starts with ("" or "a/b/"). */
  get keyPrefix(): string {
    return this.config.keyPrefix;
  }

  async write(write: TaskWrite): Promise<WriteOutcome> {
    const key = this.taskKey(write.taskId);
    const decide = (entry: KvEntry | null): Change<boolean> => {
      const stored = entry ? decodeTask(entry.value, write.taskId) : null;
      const next = applyWrite(stored, write);
      // Refused, unless the stored value is this very call's: sent again after it landed.
      if (!next)
        return { skip: !!write.writeId && storedWriteId(entry?.value ?? "") === write.writeId };
      if (stored) assertRecordFits(BACKEND_NAME, next, write.resultJson, MAX_RECORD_BYTES);
      const value = encodeTask(next, write.resultJson, write.writeId);
      return { value, expiresAt: next.expiresAt, result: true };
    };
    const applied = await this.update<boolean>(key, decide, !this.seen.has(key));
    this.seen.add(key); // applied or refused, the key exists now
    return { applied };
  }

  async read(taskId: string): Promise<TaskRecord | null> {
    const key = this.taskKey(taskId);
    const entry = await (await this.connection.get()).kv.get(key);
    if (entry) this.seen.add(key);
    return entry ? decodeTask(entry.value, taskId) : null;
  }

  /** One read-only /v1/txn per 64 ids, all in flight at once. */
  async readMany(taskIds: readonly string[]): Promise<(TaskRecord | null)[]> {
    const { kv } = await this.connection.get();
    const entries = await kv.getMany(taskIds.map((id) => this.taskKey(id)));
    return entries.map((entry, i) =>
      entry ? decodeTask(entry.value, taskIds[i] as string) : null,
    );
  }

  async remove(taskId: string): Promise<void> {
    this.seen.delete(this.taskKey(taskId));
    await (await this.connection.get()).kv.delete(this.taskKey(taskId));
  }

  async incr(key: string, by: number, expiresAt: Date | null): Promise<number> {
    return this.update(this.config.keyPrefix + key, (entry) => {
      const current = entry ? decodeCounter(entry.value, key) : null;
      const count = (current && !isExpired(current) ? current.count : 0) + by;
      return { value: encodeCounter({ count, expiresAt }), expiresAt, result: count };
    });
  }

  async removeCounter(key: string): Promise<void> {
    await (await this.connection.get()).kv.delete(this.config.keyPrefix + key);
  }

  /**
   * Check-and-set on the set's key like `incr`: the members are JSON in the value, the add commits
   * only while the ModifyIndex read is unchanged, and the size returned is the one committed. One
   * value holds at most ~380 KB: about 1,800 members of 200 bytes (ValueTooLargeError beyond).
   */
  async addToSet(key: string, member: string, expiresAt: Date | null): Promise<number> {
    return this.update<number>(this.setKey(key), (entry) => {
      const stored = entry ? decodeSet(entry.value, key) : null;
      const members = stored && !isExpired(stored) ? stored.members : [];
      // Written even when the member is there (its expiry moves): the size answered is then the
      // one a committed check-and-set saw, never a possibly stale read's.
      if (!members.includes(member)) members.push(member);
      return { value: encodeSet({ members, expiresAt }), expiresAt, result: members.length };
    });
  }

  /** Stores a group's member ids in Celery's layout (`celery-taskset-meta-<id>`). */
  async saveGroup(group: GroupRecord): Promise<void> {
    const value = encodeGroup(group);
    await this.update(this.groupKey(group.groupId), () => ({
      value,
      expiresAt: group.expiresAt,
      result: undefined,
    }));
  }

  /** The saved group, or null. */
  async readGroup(groupId: string): Promise<GroupRecord | null> {
    const entry = await (await this.connection.get()).kv.get(this.groupKey(groupId));
    return entry ? decodeGroup(entry.value, groupId) : null;
  }

  /** Deletes a saved group. */
  async removeGroup(groupId: string): Promise<void> {
    await (await this.connection.get()).kv.delete(this.groupKey(groupId));
  }

  /**
   * Deletes our expired keys under the prefix: tasks, groups, counters and sets whose `expires_at`
   * has passed (Celery's own records carry none: their sessions expire them). It lists key names
   * only, then reads values 64 keys per read-only transaction, so no answer holds more than one
   * page of values. Each delete is check-and-set on the ModifyIndex read, so a key rewritten
   * meanwhile is kept.
   *
   * Without a prefix the store shares the KV root with everyone else, so it lists only the key
   * names it writes itself (tasks — chord claims included —, groups, chord counters, sets): a
   * foreign key is never read, let alone deleted because its JSON happens to carry a past
   * `expires_at`. Counters the caller named itself are then left to their sessions (see the README).
   */
  async cleanup(now: Date): Promise<number> {
    const { kv } = await this.connection.get();
    const prefix = this.config.keyPrefix;
    let removed = 0;
    for (const listed of prefix === "" ? ROOT_KEY_PREFIXES : [prefix]) {
      const keys = (await kv.listKeys(listed)).filter((key) => isOwnKey(key.slice(prefix.length)));
      for (let i = 0; i < keys.length; i += CLEANUP_PAGE) {
        const entries = await kv.getMany(keys.slice(i, i + CLEANUP_PAGE));
        const expired = entries.filter((entry): entry is KvEntry => {
          const expiresAt = entry && storedExpiry(entry.value);
          return !!expiresAt && expiresAt.getTime() <= now.getTime();
        });
        const results = await Promise.all(
          expired.map((entry) => kv.deleteCas(entry.key, entry.modifyIndex)),
        );
        removed += results.filter(Boolean).length;
      }
    }
    return removed;
  }

  /** Idempotent. Sessions are left to expire: destroying one would delete the keys it holds. */
  async close(): Promise<void> {
    await this.connection.close((client) => client?.kv.close());
  }

  /** Deletes every key under this store's prefix, and the sessions it created. */
  async destroy(): Promise<void> {
    if (this.config.keyPrefix === "") {
      throw new ConfigurationError(
        BACKEND_NAME,
        "destroy() deletes a key prefix; this store has no prefix or namespace, " +
          "and would delete the whole KV store.",
      );
    }
    const { kv, sessions } = await this.connection.get();
    const failures = await kv.txn([{ verb: "delete-tree", key: this.config.keyPrefix }]);
    if (failures)
      throw new BackendError(BACKEND_NAME, `Deleting the prefix failed: ${failures[0]?.what}`);
    await sessions.destroyAll();
  }

  isRetryable(error: unknown): boolean {
    return errors.isRetryable(error);
  }

  private taskKey(taskId: string): string {
    return `${this.config.keyPrefix}${TASK_KEY_PREFIX}${taskId}`;
  }

  private setKey(key: string): string {
    return `${this.config.keyPrefix}${SETS_FOLDER}${key}`;
  }

  private groupKey(groupId: string): string {
    return `${this.config.keyPrefix}${GROUP_KEY_PREFIX}${groupId}`;
  }

  /**
   * The check-and-set loop: read, decide, commit guarded by the ModifyIndex read; retry on
   * conflict. `tryCreate`: first try the write as a create (`check-not-exists`) without reading,
   * one round trip when the key is indeed new; when it exists, the loop runs as usual.
   */
  private async update<T>(
    key: string,
    decide: (entry: KvEntry | null) => Change<T>,
    tryCreate = false,
  ): Promise<T> {
    const { kv, sessions } = await this.connection.get();
    if (tryCreate) {
      const change = decide(null);
      if ("skip" in change) return change.skip;
      checkSize(change.value);
      const session = this.config.sessionExpiry
        ? await sessions.sessionFor(change.expiresAt)
        : null;
      const failures = await kv.txn(writeOps(key, null, session, change.value));
      if (!failures) return change.result;
      const lost = failures.find((f) => f.opIndex > 0 && f.what.includes("invalid session"));
      if (session && lost) sessions.forget(session);
    }
    let lockFailures = 0;
    const attempt = async (): Promise<T | typeof LOST_RACE> => {
      const entry = await kv.get(key, { forWrite: true });
      const change = decide(entry);
      if ("skip" in change) return change.skip;
      checkSize(change.value);
      const useSession =
        this.config.sessionExpiry && lockFailures < LOCK_FAILURES_BEFORE_UNLOCKED_WRITE;
      const session = useSession ? await sessions.sessionFor(change.expiresAt) : null;
      const failures = await kv.txn(writeOps(key, entry, session, change.value));
      if (!failures) return change.result;
      // Op 0 is the guard: someone else wrote first, so read again. A later op failing means
      // the lock move did: our session is gone (forget it), or the key is under the lock-delay a
      // dead foreign session left (Celery's sessions keep Consul's 15 s default): write it
      // without a session rather than drop or stall the write; expires_at and cleanup() remain.
      for (const failure of failures.filter((f) => f.opIndex > 0)) {
        if (session && failure.what.includes("invalid session")) sessions.forget(session);
        lockFailures = failure.what.includes("lock delay")
          ? LOCK_FAILURES_BEFORE_UNLOCKED_WRITE
          : lockFailures + 1;
      }
      return LOST_RACE;
    };
    return retryLostRaces(BACKEND_NAME, `write of ${key}`, attempt, this.config.maxCasAttempts);
  }
}

/**
 * The transaction for one write: the guard, then whatever moves the key from the session holding
 * it to `session` (plain set keeps the holder; unlock releases; lock acquires) carrying `value`.
 */
export function writeOps(
  key: string,
  entry: KvEntry | null,
  session: string | null,
  value: string,
): TxnOp[] {
  const ops: TxnOp[] = [
    entry
      ? { verb: "check-index", key, index: entry.modifyIndex }
      : { verb: "check-not-exists", key },
  ];
  const held = entry?.session ?? null;
  if (held === session) {
    ops.push({ verb: "set", key, value });
    return ops;
  }
  if (held)
    ops.push(
      session
        ? { verb: "unlock", key, session: held }
        : { verb: "unlock", key, session: held, value },
    );
  if (session) ops.push({ verb: "lock", key, value, session });
  return ops;
}

/**
 * The key names this backend writes at the KV root when it has no prefix: all cleanup() may list
 * there. Chord claims (`chord-claim-<gid>`) are task records; chord members (`chord-members-<gid>`)
 * are sets, in their folder.
 */
const ROOT_KEY_PREFIXES = [TASK_KEY_PREFIX, GROUP_KEY_PREFIX, CHORD_UNLOCK_KEY_PREFIX, SETS_FOLDER];

/** Whether a key (without the store's prefix) is this store's: not in a nested namespace. */
function isOwnKey(rest: string): boolean {
  const name = rest.startsWith(SETS_FOLDER) ? rest.slice(SETS_FOLDER.length) : rest;
  return !name.includes("/");
}

function checkSize(value: string): void {
  const size = Buffer.byteLength(value);
  if (size > MAX_VALUE_BYTES) throw new ValueTooLargeError(BACKEND_NAME, size, MAX_VALUE_BYTES);
}

/** `createStore("consul://…")` lands here (see `BackendModule` for how options and URL merge). */
export function fromUrl(
  url: string,
  options: BackendUrlOptions & ConsulBackendOptions = {},
): ConsulBackend {
  return new ConsulBackend(mergeUrlOptions(optionsFromUrl(url), options));
}
