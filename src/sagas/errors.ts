import { CausewayError, TimeoutError } from '../core/errors.js';
import type { SagaStatus } from './saga-store.js';

/** No saga instance has this id. */
export class SagaNotFoundError extends CausewayError {
  constructor(readonly sagaId: string) {
    super('SAGA_NOT_FOUND', `No saga instance with id "${sagaId}".`);
  }
  override toJSON() {
    return { ...super.toJSON(), sagaId: this.sagaId };
  }
}

/** An operator operation that the instance's status does not allow (resume a completed saga). */
export class SagaStateError extends CausewayError {
  constructor(
    readonly sagaId: string,
    readonly status: SagaStatus,
    message: string,
  ) {
    super('SAGA_INVALID_STATE', message);
  }
  override toJSON() {
    return { ...super.toJSON(), sagaId: this.sagaId, status: this.status };
  }
}

/**
 * The runtime no longer holds the instance's lease (it expired and another runtime took the
 * instance over): this runtime stops driving it and writes nothing more.
 */
export class SagaLeaseLostError extends CausewayError {
  constructor(
    readonly sagaId: string,
    readonly owner: string,
  ) {
    super(
      'LEASE_LOST',
      `Saga "${sagaId}" is no longer held by ${owner}; another runtime took it over.`,
    );
  }
}

/** The reason a step's `signal` is aborted when an operator aborts the saga. */
export class SagaAbortedError extends CausewayError {
  constructor(readonly sagaId: string) {
    super('SAGA_ABORTED', `Saga "${sagaId}" was aborted by an operator; it compensates now.`);
  }
}

/**
 * `SagaRuntime.wait` gave up: the instance had not settled within `timeoutMs`. The saga
 * itself goes on; wait again, or look at `status` (the last one seen, `undefined` if the
 * instance was never read) to decide.
 */
export class SagaWaitTimeoutError extends TimeoutError {
  constructor(
    readonly sagaId: string,
    readonly timeoutMs: number,
    readonly status: SagaStatus | undefined,
  ) {
    super(
      `Saga "${sagaId}" did not settle within ${timeoutMs} ms (last seen ${status ?? 'not yet read'}).`,
    );
  }
  override toJSON() {
    return {
      ...super.toJSON(),
      sagaId: this.sagaId,
      timeoutMs: this.timeoutMs,
      status: this.status,
    };
  }
}
