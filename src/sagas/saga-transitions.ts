import { isCausewayError } from '../core/errors.js';
import type { SagaDefinition, SagaNode } from './definition.js';
import type {
  SagaAttempt,
  SagaAttemptOutcome,
  SagaErrorInfo,
  SagaInstance,
  SagaStepKind,
  SagaUncertainStep,
} from './saga-store.js';

/*
 * The saga's state changes as pure functions of the instance: the driver decides *when*
 * (after an attempt, on an abort), these decide *what* the next persisted instance is.
 */

/**
 * The key a step's effect is made idempotent with: the same on every attempt and after a
 * crash. A state entered a second time gets `:<visit>` so its second effect is a new one.
 */
export function sagaIdempotencyKey(
  sagaId: string,
  step: string,
  kind: SagaStepKind,
  visit = 1,
): string {
  return `${sagaId}:${step}:${kind}${visit > 1 ? `:${visit}` : ''}`;
}

/** The attempt is recorded as `started` before it runs, so a crash mid-attempt is visible. */
export function attemptStarted(
  instance: SagaInstance,
  step: string,
  kind: SagaStepKind,
  idempotencyKey: string,
  now: Date,
): SagaInstance {
  const attempt = instance.attempt + 1;
  const entry: SagaAttempt = {
    step,
    kind,
    attempt,
    idempotencyKey,
    startedAt: now,
    outcome: 'started',
  };
  return {
    ...instance,
    currentStep: step,
    attempt,
    history: [...instance.history, entry],
    updatedAt: now,
  };
}

export function attemptEnded(
  instance: SagaInstance,
  now: Date,
  outcome: SagaAttemptOutcome,
  error: SagaErrorInfo | undefined,
): SagaInstance {
  const last = instance.history.at(-1);
  if (!last) return instance;
  const closed: SagaAttempt = { ...last, endedAt: now, outcome, ...(error ? { error } : {}) };
  return { ...instance, history: [...instance.history.slice(0, -1), closed], updatedAt: now };
}

/** An attempt left `started` by a runtime that died: it counts as an attempt, `interrupted`. */
export function interrupted(instance: SagaInstance, now: Date): SagaInstance | undefined {
  if (instance.history.at(-1)?.outcome !== 'started') return undefined;
  return attemptEnded(instance, now, 'interrupted', {
    name: 'Interrupted',
    message: 'the runtime running this attempt stopped before it ended (crash or lost lease)',
  });
}

/** The step succeeded: move to its success target, or end (completed, or compensate). */
export function stepSucceeded(
  instance: SagaInstance,
  node: SagaNode<unknown>,
  data: unknown,
  now: Date,
): SagaInstance {
  const base = {
    ...instance,
    data,
    attempt: 0,
    completedSteps: [...instance.completedSteps, node.name],
    updatedAt: now,
  };
  if (node.success !== undefined)
    return { ...base, currentStep: node.success, visits: visit(instance.visits, node.success) };
  if (node.final === 'completed')
    return { ...base, status: 'completed', currentStep: undefined, endedAt: now };
  return {
    ...base,
    status: 'compensating',
    currentStep: undefined,
    error: instance.error ?? {
      step: node.name,
      kind: 'execute',
      name: 'FinalState',
      message: `reached the failed final state "${node.name}"`,
    },
  };
}

/**
 * The step gave up (or was aborted): follow its failure target, or compensate. A step whose
 * outcome is uncertain (see `uncertainOutcome`) is recorded in `uncertainSteps` either way,
 * so whenever the saga compensates, that step is undone too, in its place.
 */
export function stepFailed(
  definition: SagaDefinition<unknown>,
  instance: SagaInstance,
  step: string,
  info: SagaErrorInfo,
  now: Date,
): SagaInstance {
  const error = { step, kind: 'execute' as const, ...info };
  const node = definition.nodes.get(step);
  const uncertain =
    node?.compensate !== undefined && node.compensateUncertain
      ? uncertainOutcome(instance, step)
      : undefined;
  const uncertainSteps = uncertain
    ? [...uncertainList(instance), { ...uncertain, after: instance.completedSteps.length }]
    : uncertainList(instance);
  const target = node?.failure;
  if (target !== undefined && info.code !== 'SAGA_ABORTED')
    return {
      ...instance,
      currentStep: target,
      visits: visit(instance.visits, target),
      attempt: 0,
      uncertainSteps,
      error,
      updatedAt: now,
    };
  return {
    ...instance,
    status: 'compensating',
    currentStep: undefined,
    attempt: 0,
    uncertainSteps,
    error,
    updatedAt: now,
  };
}

/**
 * Whether the failed execution of `step` (its current visit) may still have had its
 * effect: one of its attempts timed out (the runtime's timeout, or a `TimeoutError` the step
 * threw: a request/reply wait gave up), was interrupted by a crash, or was aborted while it
 * ran. The request of any such attempt may be processed later, whatever the next attempts
 * returned, unless the service answers every attempt with one key the same way; so any of
 * them, not only the last, makes the outcome uncertain. Returns the last such attempt.
 * Attempts that all failed definitively (the step threw) return `undefined`.
 */
export function uncertainOutcome(
  instance: SagaInstance,
  step: string,
): Omit<SagaUncertainStep, 'after'> | undefined {
  const key = sagaIdempotencyKey(instance.id, step, 'execute', instance.visits[step]);
  for (let i = instance.history.length - 1; i >= 0; i--) {
    const a = instance.history[i]!;
    if (a.step !== step || a.kind !== 'execute' || a.idempotencyKey !== key) continue;
    if (a.outcome === 'timed_out' || a.outcome === 'interrupted' || a.outcome === 'aborted')
      return { step, attempt: a.attempt, outcome: a.outcome };
    if (a.outcome === 'failed' && a.error?.code === 'TIMEOUT')
      return { step, attempt: a.attempt, outcome: 'timed_out' };
  }
  return undefined;
}

/** One step to compensate: completed, or failed with an uncertain outcome. */
export interface PendingCompensation {
  step: string;
  /** 1-based occurrence of the step in the compensation order: part of its key. */
  visit: number;
  uncertain: SagaUncertainStep | undefined;
}

/**
 * The step to compensate next (walking backwards through the completed steps, each
 * uncertain step in its place after the completed steps that preceded it), or `undefined`
 * when all are handled.
 */
export function nextCompensation(instance: SagaInstance): PendingCompensation | undefined {
  const order = compensationOrder(instance);
  const index = order.length - 1 - instance.compensatedSteps.length;
  if (index < 0) return undefined;
  const entry = order[index]!;
  const visit = order.slice(0, index + 1).filter((e) => e.step === entry.step).length;
  return { step: entry.step, visit, uncertain: entry.uncertain };
}

function compensationOrder(
  instance: SagaInstance,
): { step: string; uncertain: SagaUncertainStep | undefined }[] {
  const uncertain = uncertainList(instance);
  const at = (position: number) =>
    uncertain.filter((u) => u.after === position).map((u) => ({ step: u.step, uncertain: u }));
  const order: { step: string; uncertain: SagaUncertainStep | undefined }[] = at(0);
  instance.completedSteps.forEach((step, index) => {
    order.push({ step, uncertain: undefined }, ...at(index + 1));
  });
  return order;
}

/** Instances stored before `uncertainSteps` existed read back without it. */
function uncertainList(instance: SagaInstance): SagaUncertainStep[] {
  return (instance.uncertainSteps as SagaUncertainStep[] | undefined) ?? [];
}

/** The step's compensation is done (or it had none): go on with the one before it. */
export function compensated(instance: SagaInstance, step: string, now: Date): SagaInstance {
  return {
    ...instance,
    compensatedSteps: [...instance.compensatedSteps, step],
    attempt: 0,
    updatedAt: now,
  };
}

export function compensationFinished(instance: SagaInstance, now: Date): SagaInstance {
  return {
    ...instance,
    status: 'failed',
    currentStep: undefined,
    attempt: 0,
    updatedAt: now,
    endedAt: now,
  };
}

/** A compensation gave up: the instance waits for an operator, never skipping this step. */
export function compensationFailed(
  instance: SagaInstance,
  step: string,
  info: SagaErrorInfo,
  now: Date,
): SagaInstance {
  return {
    ...instance,
    status: 'compensation_failed',
    currentStep: step,
    error: { step, kind: 'compensate', ...info },
    updatedAt: now,
  };
}

/** The error of the last attempt, if it was at this step and kind (attempts exhausted on resume). */
export function lastError(
  instance: SagaInstance,
  step: string,
  kind: SagaStepKind,
): SagaErrorInfo | undefined {
  const last = instance.history.at(-1);
  return last && last.step === step && last.kind === kind ? last.error : undefined;
}

/** Errors retrying cannot fix: an explicit `PermanentError`, or data that is not JSON. */
export function isPermanent(error: unknown): boolean {
  return (
    isCausewayError(error) && (error.code === 'PERMANENT_FAILURE' || error.code === 'SERIALIZATION')
  );
}

/**
 * A plain object a step resolves with is merged into (object) data; any other value is
 * ignored, so `execute: () => list.push(x)` cannot replace the data with a number.
 */
export function mergeData(data: unknown, patch: unknown): unknown {
  return isPlainObject(data) && isPlainObject(patch) ? { ...data, ...patch } : data;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function visit(visits: Record<string, number>, step: string): Record<string, number> {
  return { ...visits, [step]: (visits[step] ?? 0) + 1 };
}
