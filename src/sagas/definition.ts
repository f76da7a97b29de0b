import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../core/retry.js';
import type { SagaFailure, SagaStepKind } from './saga-store.js';

/** What a step's `execute` or `compensate` receives. */
export interface SagaStepContext<TData> {
  readonly sagaId: string;
  readonly sagaName: string;
  readonly step: string;
  readonly kind: SagaStepKind;
  /** 1-based attempt at this step (or compensation). */
  readonly attempt: number;
  /**
   * The same on every attempt and after a crash: pass it to the service you call (a
   * payment API's idempotency key, an inbox id) so the effect happens once even when the
   * step runs again.
   */
  readonly idempotencyKey: string;
  /**
   * A copy of the saga's data for this attempt. In `execute`, changes to it (or an object
   * returned from the step, merged into it) are persisted when the step succeeds; a failed
   * attempt's changes are dropped. In `compensate` it is read-only in effect: changes are
   * never persisted.
   */
  data: TData;
  /** Aborted when the step times out, the saga is aborted, or the runtime loses its lease. */
  readonly signal: AbortSignal;
  /** During compensation: the failure being compensated (`undefined` for an operator abort). */
  readonly failure: SagaFailure | undefined;
  /**
   * During compensation: the step's execution did not complete but its outcome is uncertain
   * (timed out, interrupted), so there may be nothing to undo. Always `false` in `execute`.
   */
  readonly uncertain: boolean;
}

/**
 * A step's work: resolve to succeed, throw to fail. Resolving with a plain object merges its
 * fields into the saga's data; any other value is ignored.
 */
export type SagaStepFunction<TData> = (
  ctx: SagaStepContext<TData>,
  // NoInfer: the data type comes from the annotation or `ctx`, never from what a step returns.
) => Promise<NoInfer<Partial<TData>> | void> | NoInfer<Partial<TData>> | void;

/** A compensation: resolve once the step's effect is undone. */
export type SagaCompensation<TData> = (ctx: SagaStepContext<TData>) => Promise<void> | void;

export interface SagaStepOptions {
  /** Retries of `execute` (exponential backoff with full jitter). Default 3 attempts. */
  retry?: Partial<RetryPolicy>;
  /** Retries of `compensate`. Default 5 attempts: undoing deserves more patience. */
  compensationRetry?: Partial<RetryPolicy>;
  /** Each attempt (execute or compensate) fails with a `TimeoutError` after this long. */
  timeoutMs?: number;
  /**
   * Whether a step that fails with an uncertain outcome (an attempt timed out, was
   * interrupted by a crash or aborted while it ran) is compensated too: its command may
   * still be processed after the saga gave up. Default `true`. Set `false` only when the
   * step's effect provably cannot happen after its attempt ended (e.g. it runs in the
   * saga's own database transaction); a definite failure is never compensated.
   */
  compensateUncertain?: boolean;
}

export interface SagaStepDefinition<TData> extends SagaStepOptions {
  name: string;
  execute: SagaStepFunction<TData>;
  /**
   * Undoes `execute`'s effect. Runs for a completed step, and for a step whose execution
   * failed with an uncertain outcome (`ctx.uncertain`: timed out or interrupted, see
   * `compensateUncertain`), so it must tolerate "nothing to undo": undo only what the
   * service records as done for this saga (e.g. refund an actual charge), once.
   */
  compensate?: SagaCompensation<TData>;
}

export interface StateDefinition<TData> extends SagaStepOptions {
  /** Runs when the state is entered; a state without it succeeds at once. */
  onEnter?: SagaStepFunction<TData>;
  /**
   * Where to go next. Without `success` the state is final. Without `failure`, a failing
   * `onEnter` compensates every state entered so far, in reverse order.
   */
  on?: { success?: string; failure?: string };
  /**
   * Undoes `onEnter`'s effect; like a step's `compensate`, it also runs for a state whose
   * `onEnter` failed with an uncertain outcome, so it must tolerate "nothing to undo".
   */
  compensate?: SagaCompensation<TData>;
  /**
   * For a final state: `completed` (default) ends the saga there; `failed` compensates
   * the states entered so far and ends the saga as `failed` (a "payment declined" state).
   */
  final?: 'completed' | 'failed';
}

/** One node of a compiled saga: a step, or a state of a state machine. */
export interface SagaNode<TData> {
  readonly name: string;
  readonly run: SagaStepFunction<TData> | undefined;
  readonly compensate: SagaCompensation<TData> | undefined;
  readonly retry: RetryPolicy;
  readonly compensationRetry: RetryPolicy;
  readonly timeoutMs: number | undefined;
  /** Compensate this node when its execution fails with an uncertain outcome. */
  readonly compensateUncertain: boolean;
  readonly success: string | undefined;
  readonly failure: string | undefined;
  /** How the saga ends after this node succeeds, when it has no `success` target. */
  readonly final: 'completed' | 'failed';
}

/**
 * A saga definition, as the runtime runs it: orchestrated sagas (`defineSaga`) and state
 * machines (`defineStateMachine`) compile to the same graph of nodes.
 */
export interface SagaDefinition<TData = unknown> {
  readonly name: string;
  readonly kind: 'saga' | 'state_machine';
  readonly initial: string;
  readonly nodes: ReadonlyMap<string, SagaNode<TData>>;
}

export const DEFAULT_STEP_RETRY: RetryPolicy = {
  ...DEFAULT_RETRY_POLICY,
  maxAttempts: 3,
  initialDelayMs: 100,
  maxDelayMs: 10_000,
};
export const DEFAULT_COMPENSATION_RETRY: RetryPolicy = {
  ...DEFAULT_RETRY_POLICY,
  maxAttempts: 5,
  initialDelayMs: 200,
  maxDelayMs: 30_000,
};

// Names end up in idempotency keys (`<id>:<step>:<kind>`): no colons, no spaces.
const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;
const NAME_RULE = 'must match /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/';

/**
 * An orchestrated saga: steps run in order; when one fails (after its retries) the
 * completed steps are compensated in reverse order, preceded by the failed step itself when
 * its outcome is uncertain (an attempt timed out or was interrupted: its effect may still
 * happen). A step that failed definitively (it threw) is not compensated.
 *
 * ```ts
 * const checkout = defineSaga<Checkout>({
 *   name: 'checkout',
 *   steps: [
 *     { name: 'reserve', execute: (ctx) => inventory.reserve(ctx.data.items, ctx.idempotencyKey),
 *       compensate: (ctx) => inventory.release(ctx.data.items, ctx.idempotencyKey) },
 *     { name: 'charge', execute: …, compensate: …, retry: { maxAttempts: 5 }, timeoutMs: 10_000 },
 *   ],
 * });
 * ```
 */
export function defineSaga<TData>(definition: {
  name: string;
  steps: readonly SagaStepDefinition<TData>[];
  /** Defaults for every step; a step's own options win. */
  defaults?: SagaStepOptions;
}): SagaDefinition<TData> {
  const issues: ValidationIssue[] = [];
  if (!NAME.test(definition.name)) issues.push({ path: ['name'], message: NAME_RULE });
  if (definition.steps.length === 0)
    issues.push({ path: ['steps'], message: 'must have at least one step' });
  const seen = new Set<string>();
  definition.steps.forEach((step, index) => {
    if (!NAME.test(step.name)) issues.push({ path: ['steps', index, 'name'], message: NAME_RULE });
    if (seen.has(step.name))
      issues.push({ path: ['steps', index, 'name'], message: `"${step.name}" is used twice` });
    seen.add(step.name);
    if (typeof step.execute !== 'function')
      issues.push({ path: ['steps', index, 'execute'], message: 'must be a function' });
    checkOptions(step, ['steps', index], issues);
  });
  checkOptions(definition.defaults ?? {}, ['defaults'], issues);
  if (issues.length > 0) throw new ValidationError(`Invalid saga "${definition.name}"`, issues);
  const nodes = new Map<string, SagaNode<TData>>();
  definition.steps.forEach((step, index) => {
    const next = definition.steps[index + 1];
    nodes.set(
      step.name,
      node(
        step.name,
        step.execute,
        step.compensate,
        { ...definition.defaults, ...step },
        {
          success: next?.name,
          failure: undefined,
          final: 'completed',
        },
      ),
    );
  });
  return { name: definition.name, kind: 'saga', initial: definition.steps[0]!.name, nodes };
}

/**
 * A state-machine saga: each state's `onEnter` runs when it is entered; its outcome picks
 * the next state (`on.success` / `on.failure`). The instance is persisted after every
 * transition and recovers like an orchestrated saga; states with `compensate` are undone in
 * reverse order of entry when the machine fails without a `failure` target or reaches a
 * `final: 'failed'` state.
 */
export function defineStateMachine<TData>(definition: {
  name: string;
  initial: string;
  states: Record<string, StateDefinition<TData>>;
  defaults?: SagaStepOptions;
}): SagaDefinition<TData> {
  const issues: ValidationIssue[] = [];
  if (!NAME.test(definition.name)) issues.push({ path: ['name'], message: NAME_RULE });
  const names = Object.keys(definition.states);
  if (!names.includes(definition.initial))
    issues.push({ path: ['initial'], message: `"${definition.initial}" is not a state` });
  for (const [name, state] of Object.entries(definition.states)) {
    if (!NAME.test(name)) issues.push({ path: ['states', name], message: `name ${NAME_RULE}` });
    for (const target of ['success', 'failure'] as const) {
      const to = state.on?.[target];
      if (to !== undefined && !names.includes(to))
        issues.push({ path: ['states', name, 'on', target], message: `"${to}" is not a state` });
    }
    if (state.final !== undefined && state.on?.success !== undefined)
      issues.push({
        path: ['states', name, 'final'],
        message: 'a state with a success target is not final',
      });
    checkOptions(state, ['states', name], issues);
  }
  checkOptions(definition.defaults ?? {}, ['defaults'], issues);
  if (issues.length > 0)
    throw new ValidationError(`Invalid state machine "${definition.name}"`, issues);
  const nodes = new Map<string, SagaNode<TData>>();
  for (const [name, state] of Object.entries(definition.states)) {
    nodes.set(
      name,
      node(
        name,
        state.onEnter,
        state.compensate,
        { ...definition.defaults, ...state },
        {
          success: state.on?.success,
          failure: state.on?.failure,
          final: state.final ?? 'completed',
        },
      ),
    );
  }
  return { name: definition.name, kind: 'state_machine', initial: definition.initial, nodes };
}

function node<TData>(
  name: string,
  run: SagaStepFunction<TData> | undefined,
  compensate: SagaCompensation<TData> | undefined,
  options: SagaStepOptions,
  edges: Pick<SagaNode<TData>, 'success' | 'failure' | 'final'>,
): SagaNode<TData> {
  return {
    name,
    run,
    compensate,
    retry: { ...DEFAULT_STEP_RETRY, ...options.retry },
    compensationRetry: { ...DEFAULT_COMPENSATION_RETRY, ...options.compensationRetry },
    timeoutMs: options.timeoutMs,
    compensateUncertain: options.compensateUncertain ?? true,
    ...edges,
  };
}

function checkOptions(
  options: SagaStepOptions,
  path: (string | number)[],
  issues: ValidationIssue[],
): void {
  if (
    options.timeoutMs !== undefined &&
    (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0)
  )
    issues.push({ path: [...path, 'timeoutMs'], message: 'must be a positive number' });
  for (const key of ['retry', 'compensationRetry'] as const) {
    const attempts = options[key]?.maxAttempts;
    if (attempts !== undefined && (!Number.isSafeInteger(attempts) || attempts < 1))
      issues.push({ path: [...path, key, 'maxAttempts'], message: 'must be an integer >= 1' });
  }
}
