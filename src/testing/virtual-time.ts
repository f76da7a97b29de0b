import type { Clock } from '../core/clock.js';

interface Timer {
  due: number;
  seq: number;
  resolve: () => void;
}

/**
 * A clock and a `sleep` that only move when the test says so: inject both (`clock`,
 * `sleep`) into a runtime, then `advance(ms)` or `runUntil(promise)`. Backoffs, timeouts
 * and lease expiry then take no real time and happen in a fixed order.
 *
 * `runUntil` lets the code under test run until it is idle (waiting only on virtual
 * timers), then jumps to the earliest timer, and repeats until the promise settles.
 */
export class VirtualTime implements Clock {
  #ms: number;
  #seq = 0;
  #timers: Timer[] = [];
  /** Every delay asked of `sleep`, in order (backoffs, timeouts, heartbeats, polls). */
  readonly requested: number[] = [];

  constructor(start: Date | number = Date.UTC(2026, 0, 1)) {
    this.#ms = typeof start === 'number' ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.#ms);
  }

  /** A `sleep(ms, signal)` on this clock. */
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      this.requested.push(ms);
      const timer: Timer = {
        due: this.#ms + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.push(timer);
    });

  /** Pending timers' due times, soonest first. */
  get pending(): number[] {
    return this.#sorted().map((t) => t.due - this.#ms);
  }

  /** Moves time forward by `ms`, firing due timers in order and letting their work run. */
  async advance(ms: number): Promise<void> {
    const target = this.#ms + ms;
    for (;;) {
      await settle();
      const next = this.#sorted()[0];
      if (!next || next.due > target) break;
      this.#fireAt(next.due);
    }
    this.#ms = target;
    await settle();
  }

  /** Runs timers (jumping time forward) until `promise` settles; fails if nothing can progress. */
  async runUntil<T>(promise: Promise<T>, options: { maxTimers?: number } = {}): Promise<T> {
    let done = false;
    promise.then(
      () => (done = true),
      () => (done = true),
    );
    for (let fired = 0; ; fired++) {
      await settle();
      if (done) return promise;
      const next = this.#sorted()[0];
      if (!next)
        throw new Error('VirtualTime.runUntil: the promise is pending but no timer is scheduled');
      if (fired >= (options.maxTimers ?? 10_000))
        throw new Error(`VirtualTime.runUntil: still pending after ${fired} timers`);
      this.#fireAt(next.due);
    }
  }

  /** Fires every timer due at `due` together, as real timers due at one instant would. */
  #fireAt(due: number): void {
    const firing = this.#sorted().filter((t) => t.due === due);
    this.#timers = this.#timers.filter((t) => !firing.includes(t));
    this.#ms = Math.max(this.#ms, due);
    for (const timer of firing) timer.resolve();
  }

  #sorted(): Timer[] {
    return [...this.#timers].sort((a, b) => a.due - b.due || a.seq - b.seq);
  }
}

/** Lets pending promise chains (and immediate I/O callbacks) run to idle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}
