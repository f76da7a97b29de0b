export { Aggregate, type DomainEvent } from './aggregate.js';
export { decisionEvents, foldEvents, type Decider } from './decider.js';
export {
  AggregateRepository,
  type AggregateRepositoryOptions,
  type AggregateSnapshotSettings,
} from './aggregate-repository.js';
export {
  DeciderRepository,
  type Decision,
  type DeciderRepositoryOptions,
} from './decider-repository.js';
export { loadState, type LoadedState, type SnapshotSettings } from './stream-loader.js';
