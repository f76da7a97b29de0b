import { isCausewayError, PermanentError, TimeoutError, ValidationError } from '../core/errors.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, type RetryPolicy } from '../core/retry.js';
import type { EventRegistry } from '../event-store/event-registry.js';
import type { DeadLetterReason, FailureInfo, Message } from './message.js';
import type { ConsumerHandle, Delivery, TransportDriver } from './transport.js';

export type MessageHandler = (
  message: Message,
  context: { attempt: number; signal: AbortSignal },
) => void | Promise<void>;

export interface ConsumerOptions {
  /** Handlers running at once. Default 8. */
  concurrency?: number;
  /** Unsettled deliveries the broker may hand over. Default 2 × concurrency. */
  prefetch?: number;
  /** Attempts and backoff (exponential, full jitter). Default 5 attempts, 1 s to 60 s. */
  retry?: Partial<RetryPolicy>;
  /** Whether retrying can help. Default: yes, except `PermanentError`, validation and domain errors. */
  isRetryable?: (error: unknown) => boolean;
  /** Only these types are handled; others are dead-lettered as `unknown_type`. */
  types?: readonly string[];
  /** Validates `data` against the type's schema; a violation is dead-lettered. */
  registry?: EventRegistry;
  /** How long `stop()` lets running handlers finish. Default 30 s. */
  drainTimeoutMs?: number;
  /** Called once a message is stored in the dead-letter queue (alerting, metrics). */
  onDeadLetter?: (failure: FailureInfo, message: Message | undefined) => void;
  /** Settling a delivery failed (broker gone): the broker redelivers it; this only reports. */
  onSettleError?: (error: unknown, delivery: Delivery) => void;
  /** Told how each delivery was settled (metrics, tracing); see `ConsumerObserver`. */
  observer?: ConsumerObserver;
}

/** How the runtime settled one delivery, reported to `ConsumerOptions.observer`. */
export interface SettledDelivery {
  destination: string;
  group: string;
  /** `undefined` for an undecodable message. */
  type: string | undefined;
  attempt: number;
  /** `retried`: the handler threw and the broker delivers it again after a backoff. */
  outcome: 'acked' | 'retried' | 'dead_lettered';
  /** Why it was dead-lettered (only with `dead_lettered`). */
  reason: DeadLetterReason | undefined;
  /** The handler's run time; `undefined` when it never ran (a poison check dead-lettered it). */
  durationMs: number | undefined;
  /** What the handler (or a poison check) threw; `undefined` when acked. */
  error: unknown;
}

/**
 * Sees every delivery the runtime settles, after the broker accepted the settlement (a
 * settlement that failed is redelivered, and reported then). Called synchronously on the
 * consumer's path: keep it cheap. A throw is reported as a warning, never fails the delivery.
 */
export interface ConsumerObserver {
  settled(delivery: SettledDelivery): void;
}

/** Why the poison checks refused a delivery. */
interface Verdict {
  reason: DeadLetterReason;
  error: unknown;
}

const NOT_RETRYABLE = new Set(['PERMANENT_FAILURE', 'VALIDATION', 'DOMAIN_RULE']);

function defaultIsRetryable(error: unknown): boolean {
  return !(isCausewayError(error) && NOT_RETRYABLE.has(error.code));
}

/**
 * The consumer runtime, the same on every broker. Messages with the same partition key run one
 * at a time in arrival order; different keys (and keyless messages) run in parallel up to
 * `concurrency`. A handler's return acks; a retryable throw hands the message back to the
 * broker with a backoff delay (never a sleep here, which would hold a prefetch slot); a
 * permanent throw or the last attempt dead-letters it with the reason. Undecodable, unknown
 * or invalid messages go straight to the dead-letter queue and never block the ones behind.
 *
 * Ordering holds among first deliveries: a message waiting for its retry does not hold back
 * later messages of its key (that would stall the key behind the broker's delay).
 *
 * A handler that returned frees its concurrency slot and its key's lane at once; the ack goes
 * on in the background. Per-key order only needs the next handler to start after this one
 * succeeded, and waiting for the broker's confirmation would cap throughput at one settle round
 * trip per slot. The driver still counts the delivery against the prefetch until the broker
 * has the ack (each driver says when that is: a confirmation, an ack written ahead of the next
 * pull on one connection; Kafka bounds its uncommitted offsets apart), so what a crash repeats
 * stays bounded;
 * `stop()` waits for acks in flight; an ack that fails leaves the message to be redelivered
 * (at-least-once), possibly after later messages of its key were handled.
 */
export class Consumer {
  readonly #lanes = new Map<string, Delivery[]>();
  readonly #runnable: (Delivery | string)[] = [];
  readonly #abort = new AbortController();
  readonly #policy: RetryPolicy;
  readonly #concurrency: number;
  /** Acks of handled messages the broker has not confirmed yet; `stop()` waits for them. */
  #acking = 0;
  #active = 0;
  #stopping = false;
  #handle: ConsumerHandle | undefined;
  #idle: (() => void) | undefined;

  private constructor(
    private readonly destination: string,
    private readonly group: string,
    private readonly handler: MessageHandler,
    private readonly options: ConsumerOptions,
  ) {
    this.#concurrency = options.concurrency ?? 8;
    if (!Number.isSafeInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new ValidationError('Invalid consumer options', [
        { path: ['concurrency'], message: 'must be an integer >= 1' },
      ]);
    }
    this.#policy = {
      ...DEFAULT_RETRY_POLICY,
      initialDelayMs: 1_000,
      maxDelayMs: 60_000,
      ...options.retry,
    };
  }

  static async start(
    driver: TransportDriver,
    destination: string,
    group: string,
    handler: MessageHandler,
    options: ConsumerOptions = {},
  ): Promise<Consumer> {
    const consumer = new Consumer(destination, group, handler, options);
    const prefetch = options.prefetch ?? consumer.#concurrency * 2;
    consumer.#handle = await driver.consume(destination, group, { prefetch }, (d) =>
      consumer.#accept(d),
    );
    return consumer;
  }

  /** Handlers running right now. */
  get active(): number {
    return this.#active;
  }

  /**
   * Graceful shutdown: stop fetching, let running handlers finish and their acks be confirmed
   * (up to the drain timeout), give unstarted deliveries back to the broker.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#handle?.stop();
    const queued = this.#takeQueued();
    await Promise.all(
      queued.map((d) => d.release().catch((e: unknown) => this.#settleError(e, d))),
    );
    if (!this.#isIdle()) {
      const timeoutMs = this.options.drainTimeoutMs ?? 30_000;
      const drained = new Promise<void>((resolve) => (this.#idle = resolve));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>(
        (resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)),
      );
      const outcome = await Promise.race([drained, timeout]);
      clearTimeout(timer);
      // Handlers still running are told to stop; their deliveries stay unsettled and the
      // broker redelivers them (at-least-once).
      if (outcome === 'timeout')
        this.#abort.abort(
          new TimeoutError(`Consumer of ${this.destination} did not drain within ${timeoutMs} ms`),
        );
    }
  }

  /** Settling failed (broker unreachable): the broker will redeliver; report, never hide. */
  #settleError(error: unknown, delivery: Delivery): void {
    let what = 'Could not settle';
    try {
      if (this.options.onSettleError) return this.options.onSettleError(error, delivery);
    } catch (callbackError) {
      // Neither an unhandled rejection on the background paths nor silence.
      [what, error] = ['onSettleError threw for', callbackError];
    }
    process.emitWarning(
      `${what} message ${delivery.message?.id ?? '(undecodable)'} on ${this.destination}/${this.group}: ${describe(error)}`,
      'CausewayConsumerWarning',
    );
  }

  #accept(delivery: Delivery): void {
    if (this.#stopping) {
      void delivery.release().catch((e: unknown) => this.#settleError(e, delivery));
      return;
    }
    const key = delivery.message?.partitionkey;
    if (key === undefined) {
      this.#runnable.push(delivery);
    } else {
      const lane = this.#lanes.get(key);
      if (lane) {
        lane.push(delivery);
      } else {
        this.#lanes.set(key, [delivery]);
        this.#runnable.push(key);
      }
    }
    this.#pump();
  }

  #pump(): void {
    while (this.#active < this.#concurrency && this.#runnable.length > 0 && !this.#stopping) {
      const next = this.#runnable.shift()!;
      const delivery = typeof next === 'string' ? this.#lanes.get(next)![0]! : next;
      this.#active++;
      const done = () => {
        this.#active--;
        if (typeof next === 'string') {
          const lane = this.#lanes.get(next)!;
          lane.shift();
          if (lane.length > 0) this.#runnable.push(next);
          else this.#lanes.delete(next);
        }
        if (this.#isIdle()) this.#idle?.();
        this.#pump();
      };
      // `then` with the same reaction twice rather than `finally`, which wraps it in two more.
      void this.#process(delivery).then(done, done);
    }
  }

  #isIdle(): boolean {
    return this.#active === 0 && this.#acking === 0;
  }

  /** Acks without holding the handler's slot or lane; a failed ack is redelivered by the broker. */
  #ackInBackground(delivery: Delivery, ran: number): void {
    let ack: Promise<void>;
    try {
      // `resolve`: a driver's ack that returns no promise must not leave the count raised.
      ack = Promise.resolve(delivery.ack());
    } catch (error) {
      ack = Promise.reject(error);
    }
    // One reaction per ack (not then + finally), and a count rather than a set of promises:
    // every handled message goes through here.
    this.#acking++;
    ack.then(
      () => {
        try {
          this.#observe(delivery, 'acked', undefined, ran, undefined);
        } finally {
          this.#ackSettled();
        }
      },
      (error: unknown) => {
        try {
          this.#settleError(error, delivery);
        } finally {
          this.#ackSettled();
        }
      },
    );
  }

  #ackSettled(): void {
    this.#acking--;
    if (this.#isIdle()) this.#idle?.();
  }

  /** Takes every delivery that has not started; running ones keep their place. */
  #takeQueued(): Delivery[] {
    const waitingKeys = new Set(
      this.#runnable.filter((item): item is string => typeof item === 'string'),
    );
    const queued = this.#runnable.filter((item): item is Delivery => typeof item !== 'string');
    this.#runnable.length = 0;
    for (const [key, lane] of this.#lanes) {
      // A lane that is not waiting to run has its head running: keep that one.
      queued.push(...lane.splice(waitingKeys.has(key) ? 0 : 1));
      if (lane.length === 0) this.#lanes.delete(key);
    }
    return queued;
  }

  async #process(delivery: Delivery): Promise<void> {
    try {
      // Awaited even when the checks answered at once: the handler never runs inside the
      // driver's `onDelivery` call (a handler that publishes to an in-process transport would
      // re-enter it).
      const verdict = await this.#check(delivery);
      if (verdict) return await this.#deadLetter(delivery, verdict.reason, verdict.error);
      const started = performance.now();
      try {
        const handled = this.handler(delivery.message!, {
          attempt: delivery.attempt,
          signal: this.#abort.signal,
        });
        // A synchronous handler is done: no promise job to wait for (one per message saved).
        if (handled !== undefined) await handled;
      } catch (error) {
        if (this.#abort.signal.aborted) return; // drained out: left unsettled for redelivery
        const ran = performance.now() - started;
        const retryable = (this.options.isRetryable ?? defaultIsRetryable)(error);
        if (!retryable) return await this.#deadLetter(delivery, 'permanent_error', error, ran);
        if (delivery.attempt >= this.#policy.maxAttempts)
          return await this.#deadLetter(delivery, 'max_attempts', error, ran);
        await delivery.retry(backoffDelay(this.#policy, delivery.attempt), {
          at: new Date(),
          error: describe(error),
        });
        return this.#observe(delivery, 'retried', undefined, ran, error);
      }
      this.#ackInBackground(delivery, performance.now() - started);
    } catch (settleError) {
      this.#settleError(settleError, delivery);
    }
  }

  #observe(
    delivery: Delivery,
    outcome: SettledDelivery['outcome'],
    reason: DeadLetterReason | undefined,
    durationMs: number | undefined,
    error: unknown,
  ): void {
    const observer = this.options.observer;
    if (!observer) return;
    const { destination, group } = this;
    const { attempt, message } = delivery;
    try {
      observer.settled({
        destination,
        group,
        type: message?.type,
        attempt,
        outcome,
        reason,
        durationMs,
        error,
      });
    } catch (e) {
      process.emitWarning(`Consumer observer threw: ${describe(e)}`, 'CausewayConsumerWarning');
    }
  }

  /**
   * Poison checks: anything that no retry can fix goes to the dead-letter queue at once. A
   * promise only when the registry has a schema to validate against.
   */
  #check(delivery: Delivery): Verdict | undefined | Promise<Verdict | undefined> {
    const message = delivery.message;
    if (!message)
      return {
        reason: 'undecodable',
        error: delivery.decodeError ?? new Error('undecodable message'),
      };
    if (this.options.types && !this.options.types.includes(message.type)) {
      return {
        reason: 'unknown_type',
        error: new PermanentError(`No handler for message type "${message.type}"`),
      };
    }
    const registry = this.options.registry;
    if (registry?.hasSchema(message.type)) return this.#validate(registry, message);
    return undefined;
  }

  async #validate(registry: EventRegistry, message: Message): Promise<Verdict | undefined> {
    try {
      message.data = await registry.validate(message.type, message.data, ['data']);
    } catch (error) {
      return { reason: 'schema_violation', error };
    }
    return undefined;
  }

  async #deadLetter(
    delivery: Delivery,
    reason: DeadLetterReason,
    error: unknown,
    durationMs?: number,
  ): Promise<void> {
    const now = new Date();
    const failure: FailureInfo = {
      reason,
      errorClass: error instanceof Error ? error.constructor.name : typeof error,
      errorMessage: describe(error),
      errorStack: error instanceof Error ? error.stack : undefined,
      attempts: delivery.attempt,
      firstFailureAt: delivery.firstFailureAt ?? now,
      lastFailureAt: now,
      destination: this.destination,
      group: this.group,
    };
    await delivery.deadLetter(failure);
    this.options.onDeadLetter?.(failure, delivery.message);
    this.#observe(delivery, 'dead_lettered', reason, durationMs, error);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
