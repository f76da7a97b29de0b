import type { Clock } from '../core/clock.js';
import { backoffDelay, type RetryPolicy } from '../core/retry.js';
import { serializeJson } from '../core/serializer.js';
import { describeError, runAttempt, type AttemptResult, type Sleep } from './attempt.js';
import type { SagaDefinition, SagaNode, SagaStepContext } from './definition.js';
import { SagaAbortedError, SagaLeaseLostError } from './errors.js';
import type {
  SagaAttemptOutcome,
  SagaErrorInfo,
  SagaInstance,
  SagaStepKind,
  SagaStore,
} from './saga-store.js';
import {
  attemptEnded,
  attemptStarted,
  compensated,
  compensationFailed,
  compensationFinished,
  interrupted,
  isPermanent,
  lastError,
  mergeData,
  nextCompensation,
  sagaIdempotencyKey,
  stepFailed,
  stepSucceeded,
} from './saga-transitions.js';

export interface DriverEnvironment {
  store: SagaStore;
  owner: string;
  leaseTtlMs: number;
  clock: Clock;
  sleep: Sleep;
  random: () => number;
  onError: (error: unknown, sagaId: string | undefined) => void;
}

/**
 * How a drive ended: the instance is `settled` (completed, failed or compensation_failed),
 * this runtime was asked to `stop`, or it must not write any more (`lost`: lease gone,
 * forced stop or a store error; whoever holds the lease next carries on).
 */
export type DriveOutcome = 'settled' | 'stopped' | 'lost';

/** Stops everything at once (forced stop): the instance is left for the next lease holder. */
class Halted extends Error {}

/**
 * Drives one instance while this runtime holds its lease: runs attempts, persists after
 * each one, compensates on failure (the completed steps and a step whose outcome is
 * uncertain, see `stepFailed`), and keeps the lease alive with a heartbeat. Every write
 * is fenced by the lease, so once another runtime takes the instance over this one can only
 * fail to write and stop.
 */
export class SagaDriver {
  readonly done: Promise<DriveOutcome>;
  readonly #halt = new AbortController();
  readonly #abortRequest = new AbortController();
  readonly #stopRequest = new AbortController();
  #instance: SagaInstance;

  constructor(
    private readonly definition: SagaDefinition<unknown>,
    instance: SagaInstance,
    private readonly env: DriverEnvironment,
  ) {
    this.#instance = instance;
    this.done = this.#run();
  }

  get instance(): SagaInstance {
    return this.#instance;
  }

  /** An operator abort seen locally: the running attempt's signal is aborted now. */
  requestAbort(): void {
    if (!this.#abortRequest.signal.aborted)
      this.#abortRequest.abort(new SagaAbortedError(this.#instance.id));
  }

  /** Finish the current attempt, persist it, release the lease. */
  stop(): void {
    this.#stopRequest.abort();
  }

  /** Stop now without writing anything more (the attempt stays `started`). */
  halt(): void {
    this.#halt.abort(new Halted('runtime stopped'));
  }

  async #run(): Promise<DriveOutcome> {
    const heartbeatStop = new AbortController();
    const heartbeat = this.#heartbeat(heartbeatStop.signal);
    try {
      this.#instance = await this.#recover(this.#instance);
      for (;;) {
        if (this.#stopRequest.signal.aborted) break;
        const status = this.#instance.status;
        if (status === 'running') await this.#execute();
        else if (status === 'compensating') await this.#compensate();
        else {
          await this.#release();
          return 'settled';
        }
      }
      await this.#release();
      return 'stopped';
    } catch (error) {
      if (!(error instanceof Halted || error instanceof SagaLeaseLostError))
        this.env.onError(error, this.#instance.id);
      return 'lost';
    } finally {
      heartbeatStop.abort();
      await heartbeat;
    }
  }

  async #heartbeat(signal: AbortSignal): Promise<void> {
    const { store, owner, leaseTtlMs, sleep } = this.env;
    const id = this.#instance.id;
    for (;;) {
      try {
        await sleep(Math.max(1, Math.floor(leaseTtlMs / 3)), signal);
      } catch {
        return;
      }
      try {
        const renewal = await store.renewLease(id, owner, leaseTtlMs);
        if (!renewal) {
          this.#halt.abort(new SagaLeaseLostError(id, owner));
          return;
        }
        if (renewal.abortRequested) this.requestAbort();
      } catch (error) {
        // The store is unreachable: keep trying. If the lease runs out meanwhile, the next
        // write is refused and this runtime stops; nothing is written twice.
        this.env.onError(error, id);
      }
    }
  }

  async #recover(instance: SagaInstance): Promise<SagaInstance> {
    const marked = interrupted(instance, this.#now());
    return marked ? this.#persist(marked) : instance;
  }

  async #execute(): Promise<void> {
    const instance = this.#instance;
    const step = instance.currentStep;
    const node = step === undefined ? undefined : this.definition.nodes.get(step);
    if (!node) {
      return this.#fail(step ?? '(none)', {
        name: 'ValidationError',
        message: `saga "${this.definition.name}" has no step "${step}" (was the definition changed?)`,
      });
    }
    if (this.#abortRequest.signal.aborted || instance.abortRequestedAt !== undefined)
      return this.#fail(node.name, describeError(new SagaAbortedError(instance.id)));
    const run = node.run;
    if (!run) {
      await this.#persist(stepSucceeded(instance, node, instance.data, this.#now()));
      return;
    }
    const previous = lastError(instance, node.name, 'execute');
    if (instance.attempt >= node.retry.maxAttempts && previous)
      return this.#fail(node.name, previous);
    const key = sagaIdempotencyKey(instance.id, node.name, 'execute', instance.visits[node.name]);
    const data = structuredClone(instance.data);
    const { result, after } = await this.#attempt(node, 'execute', key, data, run, [
      this.#halt.signal,
      this.#abortRequest.signal,
    ]);
    let outcome: Exclude<SagaAttemptOutcome, 'started'> = result.ok ? 'succeeded' : result.outcome;
    let error: unknown = result.ok ? undefined : result.error;
    let next = data;
    if (result.ok) {
      next = mergeData(data, result.value);
      try {
        serializeJson(next, `data after step "${node.name}"`);
      } catch (serialization) {
        outcome = 'failed';
        error = serialization;
      }
    }
    const info = error === undefined ? undefined : describeError(error);
    const ended = attemptEnded(after, this.#now(), outcome, info);
    if (outcome === 'succeeded') {
      await this.#persist(stepSucceeded(ended, node, next, this.#now()));
    } else if (
      outcome === 'aborted' ||
      isPermanent(error) ||
      ended.attempt >= node.retry.maxAttempts
    ) {
      await this.#persist(stepFailed(this.definition, ended, node.name, info!, this.#now()));
    } else {
      await this.#persist(ended);
      await this.#backoff(node.retry, ended.attempt, [
        this.#halt.signal,
        this.#abortRequest.signal,
        this.#stopRequest.signal,
      ]);
    }
  }

  async #compensate(): Promise<void> {
    const instance = this.#instance;
    const next = nextCompensation(instance);
    if (!next) {
      await this.#persist(compensationFinished(instance, this.#now()));
      return;
    }
    const node = this.definition.nodes.get(next.step);
    if (!node) {
      // A step renamed or removed since it ran: its effect may need undoing, and only a
      // person can tell. Stop here, visibly, rather than skip it.
      await this.#persist(
        compensationFailed(
          instance,
          next.step,
          {
            name: 'ValidationError',
            message: `saga "${this.definition.name}" has no step "${next.step}" to compensate (was the definition changed?)`,
          },
          this.#now(),
        ),
      );
      return;
    }
    const compensate = node.compensate;
    if (!compensate) {
      // Nothing to undo; persisted together with the next write.
      this.#instance = compensated(instance, next.step, this.#now());
      return;
    }
    const previous = lastError(instance, next.step, 'compensate');
    if (instance.attempt >= node.compensationRetry.maxAttempts && previous) {
      await this.#persist(compensationFailed(instance, next.step, previous, this.#now()));
      return;
    }
    const key = sagaIdempotencyKey(instance.id, next.step, 'compensate', next.visit);
    const { result, after } = await this.#attempt(
      node,
      'compensate',
      key,
      structuredClone(instance.data),
      compensate,
      [this.#halt.signal],
      next.uncertain !== undefined,
    );
    const info = result.ok ? undefined : describeError(result.error);
    const ended = attemptEnded(after, this.#now(), result.ok ? 'succeeded' : result.outcome, info);
    if (result.ok) {
      await this.#persist(compensated(ended, next.step, this.#now()));
    } else if (isPermanent(result.error) || ended.attempt >= node.compensationRetry.maxAttempts) {
      await this.#persist(compensationFailed(ended, next.step, info!, this.#now()));
    } else {
      await this.#persist(ended);
      await this.#backoff(node.compensationRetry, ended.attempt, [
        this.#halt.signal,
        this.#stopRequest.signal,
      ]);
    }
  }

  /** Persists the attempt as started, runs it, and returns its result with the instance. */
  async #attempt<T>(
    node: SagaNode<unknown>,
    kind: SagaStepKind,
    idempotencyKey: string,
    data: unknown,
    work: (ctx: SagaStepContext<unknown>) => T | Promise<T>,
    stopOn: AbortSignal[],
    uncertain = false,
  ): Promise<{ result: AttemptResult<T>; after: SagaInstance }> {
    const after = await this.#persist(
      attemptStarted(this.#instance, node.name, kind, idempotencyKey, this.#now()),
    );
    const result = await runAttempt(
      (signal) =>
        work({
          sagaId: after.id,
          sagaName: after.name,
          step: node.name,
          kind,
          attempt: after.attempt,
          idempotencyKey,
          data,
          signal,
          failure: kind === 'compensate' ? after.error : undefined,
          uncertain,
        }),
      {
        timeoutMs: node.timeoutMs,
        sleep: this.env.sleep,
        parent: AbortSignal.any(stopOn),
        what: `${kind === 'execute' ? 'Step' : 'Compensation of'} "${node.name}" in saga "${after.id}"`,
      },
    );
    this.#throwIfHalted();
    return { result, after };
  }

  async #fail(step: string, info: SagaErrorInfo): Promise<void> {
    await this.#persist(stepFailed(this.definition, this.#instance, step, info, this.#now()));
  }

  async #persist(instance: SagaInstance): Promise<SagaInstance> {
    this.#throwIfHalted();
    const saved = await this.env.store.save(instance, this.env.owner, this.env.leaseTtlMs);
    this.#instance = saved;
    if (saved.abortRequestedAt !== undefined && saved.status === 'running') this.requestAbort();
    return saved;
  }

  async #backoff(policy: RetryPolicy, attempt: number, signals: AbortSignal[]): Promise<void> {
    await this.env
      .sleep(backoffDelay(policy, attempt, this.env.random), AbortSignal.any(signals))
      .catch(() => undefined);
    this.#throwIfHalted();
  }

  async #release(): Promise<void> {
    await this.env.store
      .releaseLease(this.#instance.id, this.env.owner)
      .catch((error: unknown) => this.env.onError(error, this.#instance.id));
  }

  #throwIfHalted(): void {
    if (this.#halt.signal.aborted) throw this.#halt.signal.reason;
  }

  #now(): Date {
    return this.env.clock.now();
  }
}
