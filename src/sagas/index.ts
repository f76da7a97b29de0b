export {
  defineSaga,
  defineStateMachine,
  DEFAULT_COMPENSATION_RETRY,
  DEFAULT_STEP_RETRY,
  type SagaCompensation,
  type SagaDefinition,
  type SagaNode,
  type SagaStepContext,
  type SagaStepDefinition,
  type SagaStepFunction,
  type SagaStepOptions,
  type StateDefinition,
} from './definition.js';
export {
  SagaAbortedError,
  SagaLeaseLostError,
  SagaNotFoundError,
  SagaStateError,
} from './errors.js';
export { MemorySagaStore } from './memory-saga-store.js';
export { sagaIdempotencyKey } from './saga-transitions.js';
export { SagaRuntime, type SagaRuntimeOptions } from './saga-runtime.js';
export {
  ACTIVE_SAGA_STATUSES,
  type LeaseRenewal,
  type SagaAttempt,
  type SagaAttemptOutcome,
  type SagaErrorInfo,
  type SagaFailure,
  type SagaInstance,
  type SagaQuery,
  type SagaStatus,
  type SagaStepKind,
  type SagaStore,
} from './saga-store.js';
export type { Sleep } from './attempt.js';
