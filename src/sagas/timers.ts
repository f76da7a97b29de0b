import { hostname } from 'node:os';
import { systemClock, type Clock } from '../core/clock.js';
import { newId } from '../core/ids.js';
import { sleep as realSleep } from '../core/retry.js';
import type { Sleep } from './attempt.js';
import type { TimerRecord, TimerStore } from './timer-store.js';

/**
 * Delivers one claimed timer. It must mark the timer fired (conditional on `owner` still
 * holding it) in the same transaction as the firing's effects, and return whether it did:
 * `false` means someone else fired, replaced or cancelled it meanwhile, which is not an error.
 * A process manager's `fireTimer` is one; `markFiredAfter` wraps a plain callback.
 */
export type TimerFire = (timer: TimerRecord, owner: string, now: Date) => Promise<boolean>;

export interface TimerSchedulerOptions {
  store: TimerStore;
  fire: TimerFire;
  /** Identifies this scheduler in leases; default `<host>:<pid>:<random>`. */
  owner?: string;
  /** Due times are compared with this clock. Tests inject `VirtualTime`. */
  clock?: Clock;
  /** Every wait goes through it; tests inject `VirtualTime.sleep`. */
  sleep?: Sleep;
  /**
   * How long a claimed timer is this scheduler's; one that dies holding it is fired by
   * another after this. Longer than any firing takes. Default 30 s.
   */
  leaseMs?: number;
  /** The longest wait between looks for due timers (other processes' schedules). Default 1 s. */
  pollIntervalMs?: number;
  /**
   * Only timers of these scopes (process manager names; `runtime.managers`). Default: every
   * timer in the store. Set it when runtimes serving different managers share a store, or a
   * scheduler would claim timers its `fire` cannot deliver and hold them for a lease.
   */
  scopes?: readonly string[];
  /** Timers claimed per look. Default 50. */
  batchSize?: number;
  /** A firing that throws is retried after this. Default 5 s. */
  retryDelayMs?: number;
  /** Errors of firings and of the store. Default: a process warning. */
  onError?: (error: unknown, timer: TimerRecord | undefined) => void;
}

/**
 * Fires due timers once: claims them under a lease, hands each to `fire`, which marks it
 * fired in the transaction that delivers it. A firing that throws is given back and retried;
 * a scheduler killed mid-firing leaves its claims to expire, and any scheduler (this one
 * restarted, or another) fires them then. Several schedulers may run against one store.
 *
 * ```ts
 * const scheduler = new TimerScheduler({ store: timers, fire: runtime.fireTimer });
 * scheduler.start();
 * // …
 * await scheduler.stop();
 * ```
 */
export class TimerScheduler {
  readonly owner: string;
  readonly #store: TimerStore;
  readonly #fire: TimerFire;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #batchSize: number;
  readonly #scopes: readonly string[] | undefined;
  readonly #retryDelayMs: number;
  readonly #onError: (error: unknown, timer: TimerRecord | undefined) => void;
  readonly #stop = new AbortController();
  #wait: AbortController | undefined;
  /** When the current sleep ends (the scheduler's clock, ms); `undefined` while working. */
  #sleepingUntil: number | undefined;
  #woken = false;
  #loop: Promise<void> | undefined;
  #fired = 0;

  constructor(options: TimerSchedulerOptions) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${newId().slice(-8)}`;
    this.#store = options.store;
    this.#fire = options.fire;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? realSleep;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#pollMs = options.pollIntervalMs ?? 1_000;
    this.#batchSize = options.batchSize ?? 50;
    this.#scopes = options.scopes && [...options.scopes];
    this.#retryDelayMs = options.retryDelayMs ?? 5_000;
    this.#onError =
      options.onError ??
      ((error, timer) =>
        process.emitWarning(
          `causeway timer scheduler: ${timer ? `timer ${timer.id} (${timer.name}): ` : ''}${String(error)}`,
        ));
  }

  /** Timers this scheduler has fired. */
  get fired(): number {
    return this.#fired;
  }

  /** Starts firing in the background until `stop()`. */
  start(): void {
    if (this.#loop || this.#stop.signal.aborted) return;
    const unlisten = this.#store.onSchedule?.((dueAt) => this.#wake(dueAt));
    this.#loop = this.#run().finally(() => unlisten?.());
  }

  /**
   * Stops after the firing in hand. Timers claimed but not yet fired are given back, due as
   * before, so another scheduler fires them at once instead of after the lease.
   */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wait?.abort();
    await this.#loop;
  }

  /**
   * One pass: claims due timers (batch after batch) and fires them. Returns how many fired.
   * What `start()` repeats; tests call it directly after moving a clock.
   */
  async runDue(): Promise<number> {
    let fired = 0;
    for (;;) {
      const now = this.#clock.now();
      const claimed = await this.#store.claimDue(
        this.owner,
        now,
        this.#batchSize,
        this.#leaseMs,
        this.#scopes,
      );
      for (const [index, timer] of claimed.entries()) {
        if (this.#stop.signal.aborted) {
          await this.#giveBack(claimed.slice(index));
          return fired;
        }
        if (await this.#fireOne(timer)) fired++;
      }
      if (claimed.length < this.#batchSize) return fired;
    }
  }

  async #fireOne(timer: TimerRecord): Promise<boolean> {
    try {
      // Now, not the claim's time: the lease check must see how long the batch took.
      const done = await this.#fire(timer, this.owner, this.#clock.now());
      if (done) this.#fired++;
      return done;
    } catch (error) {
      this.#onError(error, timer);
      const retryAt = new Date(this.#clock.now().getTime() + this.#retryDelayMs);
      await this.#store.release(timer.id, this.owner, retryAt).catch((e: unknown) => {
        this.#onError(e, timer);
      });
      return false;
    }
  }

  async #giveBack(timers: readonly TimerRecord[]): Promise<void> {
    for (const timer of timers) {
      await this.#store.release(timer.id, this.owner, timer.dueAt).catch((error: unknown) => {
        this.#onError(error, timer);
      });
    }
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      this.#woken = false;
      let delay = this.#pollMs;
      try {
        await this.runDue();
        const next = await this.#store.nextDueAt(this.#scopes);
        if (next)
          delay = Math.min(delay, Math.max(0, next.getTime() - this.#clock.now().getTime()));
      } catch (error) {
        this.#onError(error, undefined);
      }
      if (this.#stop.signal.aborted || this.#woken) continue;
      this.#wait = new AbortController();
      // A due time already passed still waits a tick, so a failing store cannot spin.
      const sleepMs = Math.max(delay, 1);
      this.#sleepingUntil = this.#clock.now().getTime() + sleepMs;
      await this.#sleep(sleepMs, this.#wait.signal).catch(() => undefined);
      this.#sleepingUntil = undefined;
    }
  }

  /**
   * A schedule was announced. While sleeping, only a timer due before the sleep ends is worth
   * waking for (every schedule of a busy system would otherwise cost a claim round); while
   * working, the next round looks anyway, so the wake is kept for it.
   */
  #wake(dueAt?: Date): void {
    const until = this.#sleepingUntil;
    if (dueAt !== undefined && until !== undefined && dueAt.getTime() >= until) return;
    this.#woken = true;
    this.#wait?.abort();
  }
}

/**
 * A `TimerFire` for timers whose effect lives outside the timer store's transaction: runs
 * `handler`, then marks the timer fired. At-least-once: a crash between the two runs the
 * handler again after the lease expires, so the handler must be idempotent (key it on
 * `timer.id`).
 */
export function markFiredAfter(
  store: TimerStore,
  handler: (timer: TimerRecord) => Promise<void>,
): TimerFire {
  return async (timer, owner, now) => {
    await handler(timer);
    return store.markFired(timer.id, owner, now);
  };
}
