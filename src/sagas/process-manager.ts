/**
 * Process managers (choreography with memory): a process manager reacts to events, correlates
 * each to an instance by a key (an order id), keeps that instance's state persisted, and
 * emits messages and schedules timers in reaction. `defineProcessManager` describes one; a
 * `ProcessManagerRuntime` (process-manager-runtime.ts) applies messages and timers to it.
 */
import { ValidationError } from '../core/errors.js';
import type { CloudEvent } from '../core/envelope.js';
import type { OutgoingMessage } from '../messaging/message.js';
import type { TimerRecord } from './timer-store.js';

/** When a timer is due: `{ in: ms }` from the handler's `now`, or `{ at: date }`. */
export type TimerDue = { in: number } | { at: Date };

/** What a handler can do besides returning the new state. All of it commits with the state. */
export interface ProcessContext {
  readonly manager: string;
  /** The correlation key of this instance. */
  readonly key: string;
  /** The runtime's clock when the message or timer is applied. */
  readonly now: Date;
  /** `false` for the message that created the instance. */
  readonly existed: boolean;
  /**
   * Emits a message through the outbox. Defaults: `partitionkey` = the key (one instance's
   * messages stay in order), `causationid` = the id of the message or timer being handled,
   * `correlationid` = the incoming one's, or the key.
   */
  emit(destination: string, message: OutgoingMessage): void;
  /** Schedules (or re-schedules: same name replaces) a durable timer for this instance. */
  schedule(name: string, due: TimerDue, payload?: unknown): void;
  /** Cancels this instance's pending timer `name`; it will not fire. */
  cancel(name: string): void;
  /**
   * Completes the instance: its pending timers are cancelled, and later messages for its key
   * are acknowledged and ignored (the instance is kept so a late event cannot restart it).
   */
  complete(): void;
}

export type ProcessHandler<S> = (
  state: S,
  message: CloudEvent,
  context: ProcessContext,
) => S | Promise<S>;

export type ProcessTimerHandler<S> = (
  state: S,
  timer: TimerRecord,
  context: ProcessContext,
) => S | Promise<S>;

/**
 * What to do with a message whose key has no instance and whose type does not start one
 * (`startedBy`): `'ignore'` acknowledges it and writes nothing (it is still recorded as
 * processed); `'retry'` throws `UnknownProcessInstanceError`, a retryable error, so the
 * consumer tries again later and dead-letters it when the retries run out.
 */
export type UnknownInstancePolicy = 'ignore' | 'retry';

export interface ProcessManagerConfig<S> {
  /** Unique among process managers; names instances, timers and processed-message records. */
  name: string;
  /**
   * For each message type the manager reacts to, how to find its instance's key. Returning
   * `undefined` means "not for this manager": the message is acknowledged and skipped.
   */
  correlate: Record<string, (message: CloudEvent) => string | undefined>;
  /** The state of a new instance (a function gets the key). Must be JSON. */
  initialState: S | ((key: string) => S);
  /** One per correlated type: the new state from the current one. */
  handlers: Record<string, ProcessHandler<S>>;
  /** One per timer name the handlers schedule. */
  timers?: Record<string, ProcessTimerHandler<S>>;
  /**
   * Types that may create an instance. Default: every correlated type, so events arriving
   * out of order (payment before order) still build the state, and the handlers decide.
   */
  startedBy?: readonly string[];
  /** Default `'ignore'`. */
  unknownInstance?: UnknownInstancePolicy;
}

export interface ProcessManagerDefinition<S = unknown> {
  readonly name: string;
  readonly correlate: Readonly<Record<string, (message: CloudEvent) => string | undefined>>;
  readonly handlers: Readonly<Record<string, ProcessHandler<S>>>;
  readonly timers: Readonly<Record<string, ProcessTimerHandler<S>>>;
  readonly startedBy: ReadonlySet<string>;
  readonly unknownInstance: UnknownInstancePolicy;
  /** The message types to subscribe to. */
  readonly types: readonly string[];
  initialState(key: string): S;
}

/**
 * Describes a process manager. Checked at once: every correlated type needs a handler and
 * vice versa, and `startedBy` may only name correlated types.
 *
 * ```ts
 * const fulfilment = defineProcessManager({
 *   name: 'fulfilment',
 *   correlate: { OrderPlaced: (m) => (m.data as Order).orderId, PaymentReceived: (m) => … },
 *   initialState: { paid: false },
 *   startedBy: ['OrderPlaced'],
 *   handlers: {
 *     OrderPlaced: (state, _m, ctx) => { ctx.schedule('payment-timeout', { in: 30 * 60_000 }); return state; },
 *     PaymentReceived: (state, _m, ctx) => { ctx.cancel('payment-timeout'); ctx.complete(); return { paid: true }; },
 *   },
 *   timers: {
 *     'payment-timeout': (state, _t, ctx) => { ctx.emit('orders', { type: 'CancelOrder', data: { orderId: ctx.key } }); ctx.complete(); return state; },
 *   },
 * });
 * ```
 */
export function defineProcessManager<S>(
  config: ProcessManagerConfig<S>,
): ProcessManagerDefinition<S> {
  const issues: { path: string[]; message: string }[] = [];
  if (typeof config.name !== 'string' || config.name.length === 0)
    issues.push({ path: ['name'], message: 'must be a non-empty string' });
  const types = Object.keys(config.correlate);
  if (types.length === 0)
    issues.push({ path: ['correlate'], message: 'must name at least one message type' });
  for (const type of types) {
    if (typeof config.handlers[type] !== 'function')
      issues.push({ path: ['handlers', type], message: 'a correlated type needs a handler' });
  }
  for (const type of Object.keys(config.handlers)) {
    if (!Object.hasOwn(config.correlate, type))
      issues.push({
        path: ['correlate', type],
        message: 'a handled type needs a correlate function',
      });
  }
  for (const type of config.startedBy ?? []) {
    if (!Object.hasOwn(config.correlate, type))
      issues.push({ path: ['startedBy', type], message: 'not a correlated type' });
  }
  if (issues.length > 0) throw new ValidationError('Invalid process manager', issues);
  const initial = config.initialState;
  return {
    name: config.name,
    correlate: { ...config.correlate },
    handlers: { ...config.handlers },
    timers: { ...config.timers },
    startedBy: new Set(config.startedBy ?? types),
    unknownInstance: config.unknownInstance ?? 'ignore',
    types,
    initialState: (key) =>
      typeof initial === 'function'
        ? (initial as (key: string) => S)(key)
        : (structuredClone(initial) as S),
  };
}
