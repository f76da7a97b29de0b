import { CausewayError } from '../core/errors.js';

/**
 * The instance changed between load and save. SQL stores lock the instance on load, so this
 * means another writer bypassed the lock; retrying the message reloads and applies it again.
 */
export class ProcessConflictError extends CausewayError {
  constructor(
    readonly manager: string,
    readonly key: string,
    readonly expectedVersion: number,
  ) {
    super(
      'CONCURRENCY',
      `Process manager "${manager}" instance "${key}" is no longer at version ${expectedVersion}.`,
    );
  }
}

/**
 * The scheduler firing a timer no longer holds it (its lease ran out and another scheduler
 * claimed it): the firing writes nothing, the other scheduler's firing counts.
 */
export class TimerLeaseLostError extends CausewayError {
  constructor(
    readonly timerId: string,
    readonly owner: string,
  ) {
    super('LEASE_LOST', `Timer "${timerId}" is no longer held by ${owner}.`);
  }
}

/**
 * A message correlated to an instance that does not exist and cannot start one, under
 * `unknownInstance: 'retry'`: thrown so the consumer retries it later (the starting event
 * may still be on its way) and dead-letters it when the retries run out.
 */
export class UnknownProcessInstanceError extends CausewayError {
  constructor(
    readonly manager: string,
    readonly key: string,
    readonly messageType: string,
  ) {
    super(
      'PROCESS_INSTANCE_UNKNOWN',
      `Process manager "${manager}" has no instance "${key}", and "${messageType}" does not start one.`,
    );
  }

  override toJSON() {
    return { ...super.toJSON(), manager: this.manager, key: this.key };
  }
}
