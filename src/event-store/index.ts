export type * from './types.js';
export type { EventStore } from './event-store.js';
export type { EventStoreDriver } from './driver.js';
export { createEventStore, type EventStoreOptions } from './create-event-store.js';
export { createMemoryEventStore, MemoryEventStoreDriver } from './memory-event-store.js';
export { EventRegistry, type EventTypeDefinition, type Upcaster } from './event-registry.js';
export {
  decodeEvent,
  prepareEvents,
  type EventRow,
  type PreparedEvent,
  type PrepareContext,
} from './event-codec.js';
export {
  checkExpectedVersion,
  assertValidExpectedVersion,
  type StreamHead,
} from './expected-version.js';
export { DEFAULT_LIMITS, assertValidStreamId, type EventStoreLimits } from './limits.js';
export { MemoryCheckpointStore, type CheckpointStore } from './checkpoint-store.js';
export {
  CatchUpSubscription,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionContext,
  type SubscriptionHandler,
  type SubscriptionSource,
  type SubscriptionStatus,
} from './subscription.js';
export {
  everyNEvents,
  MemorySnapshotStore,
  type Snapshot,
  type SnapshotPolicy,
  type SnapshotStore,
} from './snapshot-store.js';
