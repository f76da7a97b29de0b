import type { Sleep } from './attempt.js';
import { SagaNotFoundError, SagaWaitTimeoutError } from './errors.js';
import type { SagaInstance, SagaStatus, SagaStore } from './saga-store.js';

/** Statuses `wait` returns on: the instance needs nothing more from a runtime. */
const SETTLED: readonly SagaStatus[] = ['completed', 'failed', 'compensation_failed'];

/** What `SagaWaiter` needs of its runtime. */
export interface SagaWaiterEnvironment {
  store: SagaStore;
  sleep: Sleep;
  pollIntervalMs: number;
  /** Settles when the runtime's driving of the instance ends; `undefined` when it does not drive it. */
  driving(id: string): Promise<unknown> | undefined;
}

/**
 * `SagaRuntime.wait`: following an instance until it settles, kept apart from the runtime's
 * driving of instances (leases, claims, operator commands). An instance the runtime drives
 * is followed through its driver, with no polling; one driven elsewhere is read every
 * `pollIntervalMs`, until the runtime takes it over (`launched`) and the wait follows the
 * driver at once.
 */
export class SagaWaiter {
  readonly #env: SagaWaiterEnvironment;
  /** Waiters per instance id, woken when the runtime starts driving that instance. */
  readonly #launchWaiters = new Map<string, Set<() => void>>();

  constructor(env: SagaWaiterEnvironment) {
    this.#env = env;
  }

  /** The runtime started driving the instance: waits polling for it follow its driver now. */
  launched(id: string): void {
    for (const wake of this.#launchWaiters.get(id) ?? []) wake();
  }

  /** See `SagaRuntime.wait`. */
  async wait(
    id: string,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<SagaInstance> {
    const stop = new AbortController();
    const { signal, timeoutMs } = options;
    const onAbort = () => stop.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    let lastSeen: SagaInstance | undefined;
    if (timeoutMs !== undefined)
      this.#env.sleep(timeoutMs, stop.signal).then(
        () => stop.abort(new SagaWaitTimeoutError(id, timeoutMs, lastSeen?.status)),
        () => undefined,
      );
    let launched = false;
    let wake: (() => void) | undefined;
    const onLaunch = () => {
      launched = true;
      wake?.();
    };
    const waiters = this.#launchWaiters.get(id) ?? new Set();
    this.#launchWaiters.set(id, waiters.add(onLaunch));
    try {
      for (;;) {
        launched = false;
        const driving = this.#env.driving(id);
        if (driving) await abortable(driving, stop.signal);
        lastSeen = await abortable(this.#env.store.get(id), stop.signal);
        if (!lastSeen) throw new SagaNotFoundError(id);
        if (SETTLED.includes(lastSeen.status)) return lastSeen;
        if (launched) continue;
        // Driven elsewhere, or by nobody yet: poll, unless this runtime takes it over first.
        const nap = new AbortController();
        const onStop = () => nap.abort();
        stop.signal.addEventListener('abort', onStop, { once: true });
        wake = () => nap.abort();
        await this.#env.sleep(this.#env.pollIntervalMs, nap.signal).catch(() => undefined);
        wake = undefined;
        stop.signal.removeEventListener('abort', onStop);
        if (stop.signal.aborted) throw stop.signal.reason;
      }
    } finally {
      stop.abort(); // ends the timeout's sleep
      signal?.removeEventListener('abort', onAbort);
      waiters.delete(onLaunch);
      if (waiters.size === 0 && this.#launchWaiters.get(id) === waiters)
        this.#launchWaiters.delete(id);
    }
  }
}

/** `promise`, or a rejection with `signal`'s reason as soon as it aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
