import { hostname } from 'node:os';
import { systemClock, type Clock } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { sleep as realSleep } from '../core/retry.js';
import { serializeJson } from '../core/serializer.js';
import type { Sleep } from './attempt.js';
import type { SagaDefinition } from './definition.js';
import { SagaNotFoundError, SagaStateError } from './errors.js';
import { SagaDriver, type DriverEnvironment } from './saga-driver.js';
import type { SagaInstance, SagaQuery, SagaStore } from './saga-store.js';
import { SagaWaiter } from './saga-waiter.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one registry holds sagas of different data types; each definition is only ever run with its own data
type AnySagaDefinition = SagaDefinition<any>;

export interface SagaRuntimeOptions {
  store: SagaStore;
  /** Every saga this runtime may start or take over. Instances of other sagas are left alone. */
  sagas: readonly AnySagaDefinition[];
  /** Identifies this runtime in leases; default `<host>:<pid>:<random>`. */
  owner?: string;
  /** A runtime that stops renewing loses its instances after this long. Default 30 s. */
  leaseTtlMs?: number;
  /** How often a started runtime looks for instances to take over. Default 1 s. */
  pollIntervalMs?: number;
  /** Instances claimed per poll. Default 20. */
  claimBatchSize?: number;
  /** How long `stop()` waits for running attempts before abandoning them. Default 30 s. */
  stopTimeoutMs?: number;
  /** Timestamps in instances and history. */
  clock?: Clock;
  /** Every wait (backoff, timeout, heartbeat, poll) goes through it; tests inject virtual time. */
  sleep?: Sleep;
  /** Jitter source for backoff. */
  random?: () => number;
  /**
   * Errors the runtime cannot hand to a caller (a store that failed during a background
   * write). The instance is left for the next lease holder. Default: a process warning.
   */
  onError?: (error: unknown, sagaId: string | undefined) => void;
}

/**
 * Runs sagas durably. An instance is persisted before its first step and after every
 * attempt; each instance is driven by one runtime at a time, under a lease in the store.
 * `start()` resumes every `running`/`compensating` instance whose lease is free or expired
 * (a crashed runtime's work) and keeps looking for such instances, so several runtimes
 * share the work and take over from each other.
 *
 * ```ts
 * const runtime = new SagaRuntime({ store, sagas: [checkout] });
 * await runtime.start();
 * const done = await runtime.run(checkout, { orderId: 'o-1' }, { id: 'checkout-o-1' });
 * done.status; // 'completed' | 'failed' | 'compensation_failed'
 * ```
 */
export class SagaRuntime {
  readonly owner: string;
  readonly #store: SagaStore;
  readonly #sagas = new Map<string, AnySagaDefinition>();
  readonly #drivers = new Map<string, SagaDriver>();
  /** `wait` calls, told when this runtime starts driving an instance. */
  readonly #waiter: SagaWaiter;
  readonly #env: DriverEnvironment;
  readonly #pollIntervalMs: number;
  readonly #claimBatchSize: number;
  readonly #stopTimeoutMs: number;
  readonly #stop = new AbortController();
  #poller: Promise<void> | undefined;

  constructor(options: SagaRuntimeOptions) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${newId().slice(-8)}`;
    this.#store = options.store;
    for (const saga of options.sagas) {
      if (this.#sagas.has(saga.name))
        throw new ValidationError('Invalid saga runtime', [
          { path: ['sagas'], message: `two sagas are named "${saga.name}"` },
        ]);
      this.#sagas.set(saga.name, saga);
    }
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.#claimBatchSize = options.claimBatchSize ?? 20;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
    const onError =
      options.onError ??
      ((error: unknown, sagaId: string | undefined) =>
        process.emitWarning(
          `Saga runtime ${this.owner}${sagaId ? ` (saga ${sagaId})` : ''}: ${String(error)}`,
          'CausewaySagaWarning',
        ));
    this.#env = {
      store: options.store,
      owner: this.owner,
      leaseTtlMs: options.leaseTtlMs ?? 30_000,
      clock: options.clock ?? systemClock,
      sleep: options.sleep ?? realSleep,
      random: options.random ?? Math.random,
      onError,
    };
    this.#waiter = new SagaWaiter({
      store: options.store,
      sleep: this.#env.sleep,
      pollIntervalMs: this.#pollIntervalMs,
      driving: (id) => this.#drivers.get(id)?.done,
    });
  }

  /**
   * Takes over every active instance whose lease is free or expired (resolves once the first
   * round is claimed; they run in the background), then keeps polling for more.
   */
  async start(): Promise<void> {
    this.#refuseWhenStopped('start');
    if (this.#poller) return;
    await this.#claimRound();
    this.#poller = this.#poll();
  }

  /**
   * Persists a new instance (before any step runs) and starts driving it here. With an `id`
   * that already exists, nothing new starts and the id is returned: starting is idempotent.
   */
  async begin<TData>(
    saga: SagaDefinition<TData> | string,
    data: TData,
    options: { id?: string } = {},
  ): Promise<string> {
    this.#refuseWhenStopped('begin a saga');
    const definition = this.#definition(saga);
    serializeJson(data, `data of a new "${definition.name}" saga`);
    const now = this.#env.clock.now();
    const id = options.id ?? newId();
    const created = await this.#store.create(
      {
        id,
        name: definition.name,
        status: 'running',
        currentStep: definition.initial,
        attempt: 0,
        visits: { [definition.initial]: 1 },
        completedSteps: [],
        uncertainSteps: [],
        compensatedSteps: [],
        data,
        error: undefined,
        history: [],
        abortRequestedAt: undefined,
        createdAt: now,
        updatedAt: now,
        endedAt: undefined,
      },
      this.owner,
      this.#env.leaseTtlMs,
    );
    if (created) {
      this.#launch(definition, created);
      return id;
    }
    const existing = await this.#store.get(id);
    if (existing && existing.name !== definition.name)
      throw new ValidationError(`Cannot start saga "${definition.name}"`, [
        { path: ['id'], message: `"${id}" is already an instance of "${existing.name}"` },
      ]);
    return id;
  }

  /** `begin`, then `wait`: resolves with the settled instance. */
  async run<TData>(
    saga: SagaDefinition<TData> | string,
    data: TData,
    options: { id?: string } = {},
  ): Promise<SagaInstance> {
    return this.wait(await this.begin(saga, data, options));
  }

  /**
   * Resolves when the instance is `completed`, `failed` or `compensation_failed`, whichever
   * runtime drives it. An instance this runtime drives resolves on its last write, with no
   * polling; one driven by another process is read every `pollIntervalMs` (and a local
   * takeover of it, by `start()`'s claims or `resume`, is followed at once). `timeoutMs`
   * rejects with `SagaWaitTimeoutError` (code `TIMEOUT`) naming the status last seen; an
   * aborted `signal` rejects with its reason. Neither stops the saga.
   */
  wait(
    id: string,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<SagaInstance> {
    return this.#waiter.wait(id, options);
  }

  get(id: string): Promise<SagaInstance | undefined> {
    return this.#store.get(id);
  }

  list(query?: SagaQuery): Promise<SagaInstance[]> {
    return this.#store.list(query);
  }

  /**
   * Operator: retries the compensation of a `compensation_failed` instance (fresh attempts,
   * from the compensation that failed), or drives an active instance whose lease is free
   * now. Resolves with the instance as persisted when driving starts.
   */
  async resume(id: string): Promise<SagaInstance> {
    const instance = await this.#require(id);
    if (instance.status === 'completed' || instance.status === 'failed')
      throw new SagaStateError(
        id,
        instance.status,
        `Saga "${id}" is ${instance.status}: every step is done or compensated; there is nothing to resume.`,
      );
    return this.#takeOver(instance, instance.status === 'compensation_failed');
  }

  /**
   * Operator: compensate now. A running instance stops its current step (its signal is
   * aborted) and compensates the completed steps in reverse order, wherever it is driven; a
   * `compensation_failed` instance retries its compensation. Resolves with the instance as
   * stored once the request is recorded; `wait(id)` for the end.
   */
  async abort(id: string): Promise<SagaInstance> {
    const instance = await this.#require(id);
    if (instance.status === 'completed' || instance.status === 'failed')
      throw new SagaStateError(
        id,
        instance.status,
        `Saga "${id}" is ${instance.status}; only an unfinished saga can be aborted.`,
      );
    if (instance.status === 'compensation_failed') return this.#takeOver(instance, true);
    const requested = (await this.#store.requestAbort(id)) ?? instance;
    const local = this.#drivers.get(id);
    if (local) {
      local.requestAbort();
      return requested;
    }
    // Nobody may be driving it (its runtime died): take it if the lease is free. Otherwise
    // its holder sees the request at its next heartbeat or write.
    const acquired = await this.#store.acquireLease(id, this.owner, this.#env.leaseTtlMs);
    if (acquired) this.#launch(this.#definition(acquired.name), acquired);
    return requested;
  }

  /**
   * Stops taking work, lets every running attempt finish and be persisted, then releases the
   * leases so another runtime continues at once. Attempts still running after
   * `stopTimeoutMs` are abandoned (recorded as `interrupted` by the next holder).
   */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#poller;
    const drivers = [...this.#drivers.values()];
    for (const driver of drivers) driver.stop();
    const all = Promise.all(drivers.map((driver) => driver.done));
    const timeout = new AbortController();
    const timedOut = await Promise.race([
      all.then(() => false),
      this.#env.sleep(this.#stopTimeoutMs, timeout.signal).then(
        () => true,
        () => false,
      ),
    ]);
    timeout.abort();
    if (timedOut) for (const driver of drivers) driver.halt();
    await all;
  }

  async #takeOver(instance: SagaInstance, retryCompensation: boolean): Promise<SagaInstance> {
    if (this.#drivers.has(instance.id)) return this.#drivers.get(instance.id)!.instance;
    const definition = this.#definition(instance.name);
    const acquired = await this.#store.acquireLease(instance.id, this.owner, this.#env.leaseTtlMs);
    if (!acquired)
      throw new SagaStateError(
        instance.id,
        instance.status,
        `Saga "${instance.id}" is driven by ${instance.leaseOwner ?? 'another runtime'} (lease until ${instance.leaseExpiresAt?.toISOString() ?? '?'}).`,
      );
    let current = acquired;
    if (retryCompensation && current.status === 'compensation_failed')
      current = await this.#store.save(
        { ...current, status: 'compensating', attempt: 0, updatedAt: this.#env.clock.now() },
        this.owner,
        this.#env.leaseTtlMs,
      );
    this.#launch(definition, current);
    return current;
  }

  async #poll(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await this.#env.sleep(this.#pollIntervalMs, signal);
      } catch {
        return;
      }
      await this.#claimRound().catch((error: unknown) => this.#env.onError(error, undefined));
    }
  }

  async #claimRound(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    const claimed = await this.#store.claim(
      [...this.#sagas.keys()],
      this.owner,
      this.#env.leaseTtlMs,
      this.#claimBatchSize,
    );
    for (const instance of claimed) this.#launch(this.#definition(instance.name), instance);
  }

  #launch(definition: AnySagaDefinition, instance: SagaInstance): void {
    if (this.#drivers.has(instance.id)) return;
    const driver = new SagaDriver(definition, instance, this.#env);
    this.#drivers.set(instance.id, driver);
    this.#waiter.launched(instance.id);
    void driver.done.finally(() => {
      if (this.#drivers.get(instance.id) === driver) this.#drivers.delete(instance.id);
    });
  }

  #definition(saga: AnySagaDefinition | string): AnySagaDefinition {
    const name = typeof saga === 'string' ? saga : saga.name;
    const registered = this.#sagas.get(name);
    if (!registered || (typeof saga !== 'string' && registered !== saga))
      throw new ValidationError(`Unknown saga "${name}"`, [
        {
          path: ['saga'],
          message:
            'register the definition in `new SagaRuntime({ sagas })` so crashed instances can be resumed',
        },
      ]);
    return registered;
  }

  /** A stopped runtime stays stopped: create a new one (its leases were released). */
  #refuseWhenStopped(what: string): void {
    if (this.#stop.signal.aborted)
      throw new ValidationError(`Cannot ${what}`, [
        { path: ['runtime'], message: `runtime ${this.owner} is stopped; create a new one` },
      ]);
  }

  async #require(id: string): Promise<SagaInstance> {
    const instance = await this.#store.get(id);
    if (!instance) throw new SagaNotFoundError(id);
    return instance;
  }
}
