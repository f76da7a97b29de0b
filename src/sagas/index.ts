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
  SagaWaitTimeoutError,
} from './errors.js';
export { MemorySagaStore } from './memory-saga-store.js';
export { sagaIdempotencyKey } from './saga-transitions.js';
export { SagaRuntime, type SagaRuntimeOptions } from './saga-runtime.js';
export {
  ACTIVE_SAGA_STATUSES,
  PURGEABLE_SAGA_STATUSES,
  type SagaPurgeQuery,
  type LeaseRenewal,
  type SagaAttempt,
  type SagaAttemptOutcome,
  type SagaErrorInfo,
  type SagaFailure,
  type SagaInstance,
  type SagaQuery,
  type SagaStatus,
  type SagaStatusCount,
  type SagaStepKind,
  type SagaUncertainStep,
  type SagaStore,
} from './saga-store.js';
export type { Sleep } from './attempt.js';
export {
  defineProcessManager,
  type ProcessContext,
  type ProcessHandler,
  type ProcessManagerConfig,
  type ProcessManagerDefinition,
  type ProcessTimerHandler,
  type TimerDue,
  type UnknownInstancePolicy,
} from './process-manager.js';
export {
  ProcessManagerRuntime,
  type ProcessManagerRuntimeOptions,
  type ProcessOutcome,
} from './process-manager-runtime.js';
export {
  MemoryProcessStore,
  type MemoryProcessStoreOptions,
  type ProcessInstance,
  type ProcessStatus,
  type ProcessStore,
  type ProcessTransaction,
} from './process-store.js';
export {
  ProcessConflictError,
  TimerLeaseLostError,
  UnknownProcessInstanceError,
} from './process-errors.js';
export {
  MemoryTimerStore,
  type TimerRecord,
  type TimerSchedule,
  type TimerStore,
} from './timer-store.js';
export {
  markFiredAfter,
  TimerScheduler,
  type TimerFire,
  type TimerSchedulerOptions,
} from './timers.js';
