import { isStoreUnavailableError, SubscriptionError, TimeoutError } from '../core/errors.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { EventFilter, ReadAllPage, RecordedEvent } from './types.js';

export interface SubscriptionContext {
  subscription: string;
  signal: AbortSignal;
}

export type SubscriptionHandler = (
  event: RecordedEvent,
  context: SubscriptionContext,
) => void | Promise<void>;

export interface SubscribeOptions {
  /**
   * Where a subscription with no checkpoint starts: `'start'` (default), `'end'` (only
   * events appended from now on) or a global position (inclusive). A stored checkpoint
   * always wins, so a restarted subscription resumes where it stopped.
   */
  from?: 'start' | 'end' | number;
  filter?: EventFilter;
  /** Events fetched per read; the checkpoint is stored after each batch. Default 100. */
  batchSize?: number;
  /**
   * The longest a live subscription waits before looking for new events when no
   * notification arrives (other processes, or stores without push). Default 250 ms.
   */
  pollIntervalMs?: number;
  /**
   * Where this subscription keeps its checkpoint; default the store's own. A stream
   * processor passes a private one, because its position is committed with its state.
   */
  checkpoints?: CheckpointStore;
}

export type SubscriptionStatus = 'starting' | 'catching_up' | 'live' | 'stopped' | 'failed';

export interface Subscription {
  readonly name: string;
  readonly status: SubscriptionStatus;
  /** The last position this subscription has finished with (handled or filtered out). */
  readonly position: number;
  /**
   * Resolves once the start position is fixed (checkpoint loaded, or `'end'` resolved):
   * anything appended after that is delivered. Rejects if the subscription fails to start.
   */
  readonly ready: Promise<void>;
  /** Stops after the event in hand, stores the checkpoint, resolves when fully stopped. */
  stop(): Promise<void>;
  /** Settles when the subscription ends: resolves on `stop()`, rejects with `SubscriptionError` if a handler throws. */
  readonly done: Promise<void>;
  /** Resolves once every event up to `position` has been handled (or filtered out). */
  waitForPosition(position: number, options?: { timeoutMs?: number }): Promise<void>;
}

/** What the engine needs from a store: a safe page reader, checkpoints and an optional wake-up. */
export interface SubscriptionSource {
  readAllPage(after: number, limit: number, filter?: EventFilter): Promise<ReadAllPage>;
  headPosition(): Promise<number>;
  checkpoints: CheckpointStore;
  /** Registers a callback run after new events commit; returns the unregister function. */
  onAppend?(listener: () => void): () => void;
}

interface Waiter {
  position: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Catch-up then live, over any store. The engine reads the global log in pages, hands each
 * event to the handler in order, stores the checkpoint after every page and then waits for a
 * notification or the poll interval. Reading is driven by `readAllPage`, which never returns
 * anything past an open transaction, so advancing to `scannedUpTo` can never skip an event.
 */
export class CatchUpSubscription implements Subscription {
  readonly name: string;
  readonly done: Promise<void>;
  readonly ready: Promise<void>;
  #markReady!: (error?: unknown) => void;
  #status: SubscriptionStatus = 'starting';
  #position = 0;
  #stored = 0;
  readonly #abort = new AbortController();
  #wake: (() => void) | undefined;
  /** Set when a notification arrives while we are reading, so the next sleep is skipped. */
  #notified = false;
  #waiters: Waiter[] = [];
  #unlisten: (() => void) | undefined;

  constructor(
    name: string,
    private readonly handler: SubscriptionHandler,
    private readonly options: SubscribeOptions,
    private readonly source: SubscriptionSource,
  ) {
    this.name = name;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#markReady = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.ready.catch(() => undefined);
    this.done = this.#run();
    // `done` is also observed through `stop()`/`waitForPosition`; avoid an unhandled rejection
    // warning when the caller only uses those.
    this.done.catch(() => undefined);
  }

  get status(): SubscriptionStatus {
    return this.#status;
  }

  get position(): number {
    return this.#position;
  }

  async stop(): Promise<void> {
    if (!this.#abort.signal.aborted) this.#abort.abort();
    this.#wake?.();
    try {
      await this.done;
    } catch {
      // A failed subscription is stopped too; its error is reported through `done`.
    }
  }

  waitForPosition(position: number, options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#position >= position) return Promise.resolve();
    if (this.#status === 'failed' || this.#status === 'stopped') {
      return Promise.reject(
        new SubscriptionError(
          this.name,
          this.#position,
          `Subscription "${this.name}" is ${this.#status}`,
        ),
      );
    }
    const { timeoutMs = 30_000 } = options;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new TimeoutError(
            `Subscription "${this.name}" did not reach position ${position} within ${timeoutMs} ms (at ${this.#position})`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const batchSize = this.options.batchSize ?? 100;
    const pollMs = this.options.pollIntervalMs ?? 250;
    let dirty = false;
    this.#unlisten = this.source.onAppend?.(() => {
      this.#notified = true;
      this.#wake?.();
    });
    try {
      // Through #advance: a waiter registered while starting may already be satisfied.
      this.#advance(await this.#startPosition());
      this.#stored = this.#position;
      this.#markReady();
      this.#status = 'catching_up';
      while (!signal.aborted) {
        this.#notified = false;
        const page = await this.#readPage(batchSize);
        for (const event of page.events) {
          if (signal.aborted) break;
          try {
            await this.handler(event, { subscription: this.name, signal });
          } catch (cause) {
            throw new SubscriptionError(
              this.name,
              event.globalPosition,
              `Subscription "${this.name}" handler failed on event ${event.id} (${event.type}) at position ${event.globalPosition}`,
              { cause },
            );
          }
          this.#advance(event.globalPosition);
          dirty = true;
        }
        if (signal.aborted) break;
        if (page.scannedUpTo > this.#position) {
          this.#advance(page.scannedUpTo);
          dirty = true;
        }
        if (dirty) {
          await this.#checkpoint();
          dirty = false;
        }
        if (page.isEnd) {
          this.#status = 'live';
          await this.#sleep(pollMs);
        } else {
          // A synchronous driver (SQLite, memory) would otherwise run the whole catch-up in
          // microtasks and starve timers and I/O until the head.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      if (dirty) await this.#checkpoint();
      this.#markReady();
      this.#finish('stopped');
    } catch (error) {
      // Keep what was finished: the next run resumes right after the last handled event.
      if (this.#position > this.#stored) await this.#checkpoint().catch(() => undefined);
      const failure =
        error instanceof SubscriptionError
          ? error
          : new SubscriptionError(
              this.name,
              this.#position,
              `Subscription "${this.name}" failed: ${String(error)}`,
              { cause: error },
            );
      this.#finish('failed', failure);
      this.#markReady(failure);
      throw failure;
    }
  }

  /**
   * Reads the next page, waiting out an unreachable store (a database restart, a network
   * blip) with capped backoff instead of ending the subscription; other errors end it.
   */
  async #readPage(batchSize: number): Promise<ReadAllPage> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.source.readAllPage(this.#position, batchSize, this.options.filter);
      } catch (error) {
        if (!isStoreUnavailableError(error)) throw error;
        await this.#sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)));
        // Stopped while waiting: an empty page lets the loop end as a normal stop.
        if (this.#abort.signal.aborted)
          return { events: [], scannedUpTo: this.#position, isEnd: true };
      }
    }
  }

  async #startPosition(): Promise<number> {
    const stored = await this.source.checkpoints.load(this.name);
    if (stored !== undefined) return stored;
    const from = this.options.from ?? 'start';
    if (from === 'start') return 0;
    if (from === 'end') return this.source.headPosition();
    return Math.max(0, from - 1);
  }

  #advance(position: number): void {
    this.#position = position;
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((w) => w.position <= position);
    this.#waiters = this.#waiters.filter((w) => w.position > position);
    for (const waiter of ready) waiter.resolve();
  }

  async #checkpoint(): Promise<void> {
    await this.source.checkpoints.store(this.name, this.#position);
    this.#stored = this.#position;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#notified || this.#abort.signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    }).finally(() => {
      this.#wake = undefined;
    });
  }

  #finish(status: 'stopped' | 'failed', error?: SubscriptionError): void {
    this.#status = status;
    this.#unlisten?.();
    const waiters = this.#waiters;
    this.#waiters = [];
    const reason =
      error ??
      new SubscriptionError(
        this.name,
        this.#position,
        `Subscription "${this.name}" stopped at ${this.#position}`,
      );
    for (const waiter of waiters) waiter.reject(reason);
  }
}
