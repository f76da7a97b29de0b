import { hostname } from 'node:os';
import {
  isCausewayError,
  isStoreUnavailableError,
  TimeoutError,
  ValidationError,
} from '../core/errors.js';
import { newId } from '../core/ids.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep, type RetryPolicy } from '../core/retry.js';
import type { EventStore } from '../event-store/event-store.js';
import type { ReadAllPage } from '../event-store/types.js';
import {
  LeaseLostError,
  ProjectionFailedError,
  type ProjectionDefinition,
  type ProjectionStore,
} from './projection.js';

export interface ProjectionProgress {
  projection: string;
  version: number;
  position: number;
  head: number;
  /** Events applied per second since the runner started catching up. */
  eventsPerSecond: number;
  caughtUp: boolean;
}

export interface ProjectionRunnerOptions {
  store: EventStore;
  projections: ProjectionStore;
  projection: ProjectionDefinition;
  /** Identifies this runner in leases; default `<host>:<pid>:<random>`. */
  owner?: string;
  /** Events per transaction. Default 500. */
  batchSize?: number;
  /** A runner that stops renewing loses the projection after this long. Default 6 s. */
  leaseTtlMs?: number;
  /** How often a live runner looks for new events. Default 100 ms. */
  pollIntervalMs?: number;
  /** Retries of a failing batch before the projection is marked failed. */
  retry?: Partial<RetryPolicy>;
  onProgress?: (progress: ProjectionProgress) => void;
  /** Activate a `building` version once it has caught up (blue/green switch). Default true. */
  activateWhenCaughtUp?: boolean;
  /** Keep running while the projection is paused (used by rebuild, which pauses the others). */
  ignorePause?: boolean;
}

export type RunnerState =
  'starting' | 'standby' | 'catching_up' | 'live' | 'paused' | 'stopped' | 'failed';

/**
 * Runs one async projection: holds its lease (so one process at a time advances it), reads
 * the log after the checkpoint in batches and applies each batch in one transaction together
 * with the new checkpoint. A crash loses at most the open transaction; the next runner
 * resumes from the checkpoint, so the read model always equals a replay of the log.
 */
export class ProjectionRunner {
  readonly owner: string;
  readonly done: Promise<void>;
  #state: RunnerState = 'starting';
  #position = 0;
  #abort = new AbortController();
  #waiters: { position: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  readonly #options: Required<
    Pick<
      ProjectionRunnerOptions,
      'batchSize' | 'leaseTtlMs' | 'pollIntervalMs' | 'activateWhenCaughtUp'
    >
  > &
    ProjectionRunnerOptions;
  readonly #retry: RetryPolicy;

  constructor(options: ProjectionRunnerOptions) {
    if (options.projection.mode === 'inline') {
      throw new ValidationError('Inline projections have no runner', [
        {
          path: ['projection', 'mode'],
          message: `"${options.projection.name}" is updated inside appends; running it async too would apply events twice`,
        },
      ]);
    }
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${newId().slice(-8)}`;
    this.#options = {
      batchSize: 500,
      leaseTtlMs: 6_000,
      pollIntervalMs: 100,
      activateWhenCaughtUp: true,
      ...options,
    };
    this.#retry = {
      ...DEFAULT_RETRY_POLICY,
      maxAttempts: 5,
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      ...options.retry,
    };
    this.done = this.#run();
    this.done.catch(() => undefined);
  }

  /** The stored error is from an earlier failure; cleared once this runner advances. */
  #staleError = false;
  #live: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  /** Resolves the next time the runner reaches the head of the log (after activating, if it does). */
  caughtUp(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'failed')
      return Promise.reject(new TimeoutError(`Projection runner is ${this.#state}`));
    return new Promise((resolve, reject) => this.#live.push({ resolve, reject }));
  }

  get state(): RunnerState {
    return this.#state;
  }

  get position(): number {
    return this.#position;
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.done.catch(() => undefined);
  }

  waitForPosition(position: number, options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#position >= position) return Promise.resolve();
    const { timeoutMs = 30_000 } = options;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new TimeoutError(
            `Projection "${this.#options.projection.name}" did not reach ${position} within ${timeoutMs} ms (at ${this.#position})`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  async #run(): Promise<void> {
    const { projections, projection, leaseTtlMs } = this.#options;
    const signal = this.#abort.signal;
    const heartbeatMs = Math.max(50, Math.floor(leaseTtlMs / 3));
    let held = false;
    let renewedAt = 0;
    try {
      const prepared = await projections.prepare(projection);
      this.#staleError = prepared.error !== undefined;
      this.#startPosition = prepared.position;
      this.#advance(prepared.position);
      let failures = 0;
      while (!signal.aborted) {
        try {
          const now = Date.now();
          if (!held || now - renewedAt >= heartbeatMs) {
            const state = await projections.get(projection.name, projection.version);
            if (state?.paused && !this.#options.ignorePause) {
              if (held)
                await projections.releaseLease(projection.name, projection.version, this.owner);
              held = false;
              this.#state = 'paused';
              await this.#idle(heartbeatMs);
              continue;
            }
            held = await projections.acquireLease(
              projection.name,
              projection.version,
              this.owner,
              leaseTtlMs,
            );
            renewedAt = now;
            if (!held) {
              this.#state = 'standby';
              await this.#idle(heartbeatMs);
              continue;
            }
            // Another runner may have advanced the checkpoint while we were on standby.
            const fresh = await projections.get(projection.name, projection.version);
            if (fresh) this.#advance(fresh.position);
          }
          const caughtUp = await this.#step();
          failures = 0;
          if (caughtUp) await this.#idle(this.#options.pollIntervalMs);
        } catch (error) {
          if (error instanceof LeaseLostError) {
            held = false;
            continue;
          }
          if (error instanceof ProjectionFailedError || signal.aborted) throw error;
          // Reading the log, leases or state failed outside a batch. An unreachable store
          // (a restart, a network blip) is waited out; anything else gets the batch's retries.
          // Either way the reason is recorded, never swallowed.
          failures++;
          const message = `Projection "${projection.name}" v${projection.version} at position ${this.#position}: ${describe(error)}`;
          await projections
            .setError(projection.name, projection.version, message)
            .catch(() => undefined);
          this.#staleError = true;
          if (!isStoreUnavailableError(error) && failures >= this.#retry.maxAttempts) {
            throw new ProjectionFailedError(projection.name, undefined, message, { cause: error });
          }
          await this.#idle(backoffDelay(this.#retry, failures));
        }
      }
      if (held)
        await projections
          .releaseLease(projection.name, projection.version, this.owner)
          .catch(() => undefined);
      this.#finish('stopped');
    } catch (error) {
      if (held)
        await projections
          .releaseLease(projection.name, projection.version, this.owner)
          .catch(() => undefined);
      this.#finish('failed', error);
      throw error;
    }
  }

  /** Reads and applies one batch; returns true when the projection is at the head of the log. */
  async #step(): Promise<boolean> {
    const { store, projections, projection, batchSize } = this.#options;
    const page = await store.readAllPage(this.#position, batchSize, {
      types: Object.keys(projection.handlers),
    });
    const target = page.scannedUpTo;
    if (target > this.#position) {
      await this.#applyWithRetry(page, target);
      this.#report(page.isEnd);
    }
    if (!page.isEnd) {
      this.#state = 'catching_up';
      // A synchronous driver (SQLite, memory) would otherwise run the whole catch-up in
      // microtasks and starve timers and I/O (lease renewals, HTTP) until the head.
      await new Promise((resolve) => setImmediate(resolve));
      return false;
    }
    if (this.#state !== 'live') {
      this.#state = 'live';
      const state = await projections.get(projection.name, projection.version);
      if (state?.status === 'building' && this.#options.activateWhenCaughtUp)
        await projections.activate(projection);
      this.#report(true);
    }
    const live = this.#live;
    this.#live = [];
    for (const waiter of live) waiter.resolve();
    return true;
  }

  async #applyWithRetry(page: ReadAllPage, target: number): Promise<void> {
    const { projections, projection } = this.#options;
    for (let attempt = 1; ; attempt++) {
      let failedAt: number | undefined;
      try {
        await projections.applyBatch(
          projection,
          this.owner,
          this.#position,
          target,
          async (session) => {
            for (const event of page.events) {
              failedAt = event.globalPosition;
              await projection.handlers[event.type]?.(event, session);
            }
            failedAt = undefined;
          },
        );
        if (attempt > 1 || this.#staleError) {
          await projections.setError(projection.name, projection.version, undefined);
          this.#staleError = false;
        }
        this.#advance(target);
        return;
      } catch (error) {
        if (error instanceof LeaseLostError || this.#abort.signal.aborted) throw error;
        const where = failedAt === undefined ? 'while committing' : `at position ${failedAt}`;
        const message = `Projection "${projection.name}" v${projection.version} failed ${where}: ${describe(error)}`;
        if (attempt >= this.#retry.maxAttempts) {
          await projections
            .setError(projection.name, projection.version, message)
            .catch(() => undefined);
          throw new ProjectionFailedError(projection.name, failedAt, message, { cause: error });
        }
        await sleep(backoffDelay(this.#retry, attempt), this.#abort.signal).catch(() => undefined);
        if (this.#abort.signal.aborted) throw error;
      }
    }
  }

  #startedAt = performance.now();
  #startPosition: number | undefined;

  #report(caughtUp: boolean): void {
    const onProgress = this.#options.onProgress;
    if (!onProgress) return;
    const seconds = (performance.now() - this.#startedAt) / 1000;
    const position = this.#position;
    const eventsPerSecond =
      seconds > 0 ? Math.round((position - (this.#startPosition ?? 0)) / seconds) : 0;
    const { name, version } = this.#options.projection;
    // Progress is advisory: a failing head lookup or a throwing callback must not fail the
    // runner (its batch is already committed) nor surface as an unhandled rejection.
    void (async () => {
      try {
        const head = await this.#options.store.headPosition();
        onProgress({ projection: name, version, position, head, eventsPerSecond, caughtUp });
      } catch {
        // ignored on purpose, see above
      }
    })();
  }

  #idle(ms: number): Promise<void> {
    return sleep(ms, this.#abort.signal).catch(() => undefined);
  }

  #advance(position: number): void {
    this.#position = position;
    const ready = this.#waiters.filter((w) => w.position <= position);
    this.#waiters = this.#waiters.filter((w) => w.position > position);
    for (const waiter of ready) waiter.resolve();
  }

  #finish(state: 'stopped' | 'failed', error?: unknown): void {
    this.#state = state;
    const waiters = this.#waiters;
    this.#waiters = [];
    const reason =
      error ?? new TimeoutError(`Projection "${this.#options.projection.name}" stopped`);
    for (const waiter of [...waiters, ...this.#live]) waiter.reject(reason);
    this.#live = [];
  }
}

function describe(error: unknown): string {
  if (isCausewayError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
