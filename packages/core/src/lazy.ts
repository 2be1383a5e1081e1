/** Opening things on first use: one shared attempt, forgotten when it fails so the next call retries. */
import { StoreClosedError } from "./errors.js";

/** A value made by `open` on first `get`, shared by every caller; a failed `open` is not kept. */
export class Lazy<T> {
  private pending: Promise<T> | undefined;

  constructor(private readonly open: () => Promise<T>) {}

  /** The value, opening it on the first call (or the first after a failed open). */
  get(): Promise<T> {
    this.pending ??= this.open().catch((error: unknown) => {
      this.pending = undefined; // a later call may reach a server that was down
      throw error;
    });
    return this.pending;
  }

  /** Forgets the value (e.g. after `destroy()` dropped what `open` created): the next `get` opens anew. */
  reset(): void {
    this.pending = undefined;
  }

  /**
   * Forgets the value only if it is still `stale` (what an earlier `get` returned): when many
   * callers find it broken at once, the first to call this makes the next `get` open anew, and
   * the others then share that one reopening instead of each starting their own.
   */
  forget(stale: Promise<T>): void {
    if (this.pending === stale) this.pending = undefined;
  }

  /**
   * `body` with the value; when it fails because what `open` provisioned is gone (`isGone`: a
   * table or container dropped behind our back, an in-memory server restarted), opens anew once
   * and runs `body` again, so one vanished resource does not fail every call until a restart.
   */
  async reopening<R>(
    body: (value: T) => Promise<R>,
    isGone: (error: unknown) => boolean | Promise<boolean>,
  ): Promise<R> {
    const opened = this.get();
    try {
      return await body(await opened);
    } catch (error) {
      if (!(await isGone(error))) throw error;
      this.forget(opened);
      return body(await this.get());
    }
  }

  /** What `get` resolved to, or undefined when it never ran or failed. */
  async settled(): Promise<T | undefined> {
    return this.pending?.catch(() => undefined);
  }
}

/**
 * A backend's connection: opened lazily by the first call, refused with `StoreClosedError` once
 * closed. `close` is idempotent and releases only once.
 */
export class LazyConnection<T> extends Lazy<T> {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly backend: string,
    open: () => Promise<T>,
  ) {
    super(open);
  }

  /** Whether `close` has been called. */
  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** The connection, or `StoreClosedError` once closed. */
  override get(): Promise<T> {
    if (this.closing) return Promise.reject(new StoreClosedError(this.backend));
    return super.get();
  }

  /** Closes once: `release` gets what was opened (undefined when nothing was). */
  close(release: (opened: T | undefined) => unknown = () => undefined): Promise<void> {
    this.closing ??= (async () => {
      const opened = await this.settled();
      this.reset();
      await release(opened);
    })();
    return this.closing;
  }
}
