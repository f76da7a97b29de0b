import { TimeoutError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { deserializeJson, serializeJson } from '../core/serializer.js';

/** What a claim on an idempotency key found. */
export type ClaimResult =
  /** Nobody has done the work: it is yours, fenced by `token`. */
  | { status: 'claimed'; token: string }
  /** The work was done; here is its result (JSON text). */
  | { status: 'completed'; result: string }
  /** Someone is doing the work right now; their claim lasts until `leaseExpiresAt`. */
  | { status: 'in_progress'; leaseExpiresAt: Date };

/**
 * The store behind `IdempotencyService`. Claims are leases with a fencing token: a caller
 * whose lease ran out (and was taken over) can no longer record a result, so two results for
 * one key can never both be stored.
 */
export interface IdempotencyStore {
  claim(key: string, leaseMs: number): Promise<ClaimResult>;
  /** Extends a live claim; `false` if `token` no longer holds it. */
  renew(key: string, token: string, leaseMs: number): Promise<boolean>;
  /** Records the result if `token` still holds the claim; `false` otherwise. */
  complete(key: string, token: string, result: string, ttlMs: number | undefined): Promise<boolean>;
  /** Gives the key back after a failure, so the next caller runs the operation. */
  release(key: string, token: string): Promise<void>;
  /** Resolves when the key is completed or released, or after `maxWaitMs` (whichever first). */
  waitForChange(key: string, maxWaitMs: number): Promise<void>;
}

export interface ProcessOptions {
  /** How long the stored result is kept. Default: forever. */
  ttlMs?: number;
}

export interface IdempotencyServiceOptions {
  /** A claim lasts this long and is renewed at a third of it while the operation runs. Default 30 s. */
  leaseMs?: number;
  /** How long a concurrent caller waits for the first one's result. Default 10 s. */
  waitTimeoutMs?: number;
}

/**
 * `process(key, operation)`: the first caller runs the operation and stores its result; callers
 * arriving meanwhile wait for that result (bounded, then `TimeoutError`); later callers get the
 * stored result without running anything. Results are stored as JSON, so a replay returns the
 * JSON shape of the first result. A failed operation stores nothing: the next caller retries.
 */
export class IdempotencyService {
  readonly #leaseMs: number;
  readonly #waitTimeoutMs: number;

  constructor(
    private readonly store: IdempotencyStore,
    options: IdempotencyServiceOptions = {},
  ) {
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 10_000;
  }

  async process<T>(
    key: string,
    operation: () => Promise<T>,
    options: ProcessOptions = {},
  ): Promise<T> {
    const deadline = Date.now() + this.#waitTimeoutMs;
    for (;;) {
      const claim = await this.store.claim(key, this.#leaseMs);
      if (claim.status === 'completed')
        return deserializeJson(claim.result, `stored result of ${key}`) as T;
      if (claim.status === 'in_progress') {
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          throw new TimeoutError(
            `Idempotency key "${key}" is still being processed by another caller after ${this.#waitTimeoutMs} ms`,
          );
        }
        const untilExpiry = Math.max(1, claim.leaseExpiresAt.getTime() - Date.now());
        await this.store.waitForChange(key, Math.min(remaining, untilExpiry));
        continue;
      }
      return this.#run(key, claim.token, operation, options);
    }
  }

  async #run<T>(
    key: string,
    token: string,
    operation: () => Promise<T>,
    options: ProcessOptions,
  ): Promise<T> {
    let lost = false;
    const heartbeat = setInterval(
      () => {
        void this.store.renew(key, token, this.#leaseMs).then(
          (held) => (lost ||= !held),
          () => undefined,
        );
      },
      Math.max(10, Math.floor(this.#leaseMs / 3)),
    );
    let result: T;
    try {
      result = await operation();
    } catch (error) {
      clearInterval(heartbeat);
      await this.store.release(key, token).catch(() => undefined);
      throw error;
    }
    clearInterval(heartbeat);
    const recorded = await this.store
      .complete(
        key,
        token,
        serializeJson(result === undefined ? null : result, `result of ${key}`),
        options.ttlMs,
      )
      .catch((error: unknown) => {
        process.emitWarning(
          `Could not record the result of idempotency key "${key}": ${String(error)}`,
          'CausewayIdempotencyWarning',
        );
        return true;
      });
    if (!recorded || lost) {
      // The lease ran out and another caller took the key: both ran. Say so loudly; making
      // the effect itself atomic with the record (the inbox) is what rules this out.
      process.emitWarning(
        `Idempotency key "${key}" was taken over while its operation ran; it may have run twice`,
        'CausewayIdempotencyWarning',
      );
    }
    return result;
  }
}

/**
 * Callers waiting for an idempotency key to change, per key; each is woken once, by `wake(key)`
 * or by its own timeout. Stores that learn of changes (in process, by notification) share it.
 */
export class KeyWaiters {
  readonly #waiters = new Map<string, Set<() => void>>();

  /**
   * Resolves on `wake(key)` or after `maxWaitMs`. `registered` runs once the waiter is in
   * place, with its `done`: a store looks at the key then, so a change that happened just
   * before the waiter registered is not missed.
   */
  wait(key: string, maxWaitMs: number, registered?: (done: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(key) ?? new Set();
      this.#waiters.set(key, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(key) === waiters) this.#waiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      waiters.add(done);
      registered?.(done);
    });
  }

  wake(key: string): void {
    for (const waiter of [...(this.#waiters.get(key) ?? [])]) waiter();
  }

  wakeAll(): void {
    for (const key of [...this.#waiters.keys()]) this.wake(key);
  }
}

interface Entry {
  status: 'claimed' | 'completed';
  token: string;
  leaseExpiresAt: Date;
  result: string | undefined;
  expiresAt: Date | undefined;
}

/** The reference store, in process memory; waiters are woken directly. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #entries = new Map<string, Entry>();
  readonly #waiters = new KeyWaiters();

  constructor(private readonly now: () => Date = () => new Date()) {}

  async claim(key: string, leaseMs: number): Promise<ClaimResult> {
    const now = this.now();
    const entry = this.#entries.get(key);
    if (entry?.status === 'completed' && (!entry.expiresAt || entry.expiresAt > now)) {
      return { status: 'completed', result: entry.result! };
    }
    if (entry?.status === 'claimed' && entry.leaseExpiresAt > now) {
      return { status: 'in_progress', leaseExpiresAt: entry.leaseExpiresAt };
    }
    const token = newId();
    this.#entries.set(key, {
      status: 'claimed',
      token,
      leaseExpiresAt: new Date(now.getTime() + leaseMs),
      result: undefined,
      expiresAt: undefined,
    });
    return { status: 'claimed', token };
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    const entry = this.#entries.get(key);
    if (entry?.status !== 'claimed' || entry.token !== token) return false;
    entry.leaseExpiresAt = new Date(this.now().getTime() + leaseMs);
    return true;
  }

  async complete(
    key: string,
    token: string,
    result: string,
    ttlMs: number | undefined,
  ): Promise<boolean> {
    const entry = this.#entries.get(key);
    if (entry?.status !== 'claimed' || entry.token !== token) return false;
    const now = this.now();
    this.#entries.set(key, {
      status: 'completed',
      token,
      leaseExpiresAt: now,
      result,
      expiresAt: ttlMs === undefined ? undefined : new Date(now.getTime() + ttlMs),
    });
    this.#waiters.wake(key);
    return true;
  }

  async release(key: string, token: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (entry?.status === 'claimed' && entry.token === token) {
      this.#entries.delete(key);
      this.#waiters.wake(key);
    }
  }

  waitForChange(key: string, maxWaitMs: number): Promise<void> {
    return this.#waiters.wait(key, maxWaitMs);
  }
}
