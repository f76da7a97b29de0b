/**
 * `causeway`: the kernel and the in-memory reference adapters. Drivers live in subpath
 * entries (`causeway/sqlite`, `causeway/postgres`) so users install only what they run.
 */
export * from './core/errors.js';
export * from './core/envelope.js';
export { newId } from './core/ids.js';
export { currentContext, runWithContext, type MessageContext } from './core/context.js';
export { systemClock, ManualClock, type Clock } from './core/clock.js';
export { validate, type StandardSchemaV1 } from './core/schema.js';
export { serializeJson, deserializeJson } from './core/serializer.js';
export * from './event-store/index.js';
export * from './domain/index.js';
export {
  backoffDelay,
  retry,
  sleep,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
} from './core/retry.js';
export * from './cqrs/index.js';
export {
  IdempotencyService,
  MemoryIdempotencyStore,
  type ClaimResult,
  type IdempotencyServiceOptions,
  type IdempotencyStore,
  type ProcessOptions,
} from './messaging/idempotency-store.js';
export * from './projections/index.js';
export * from './sagas/index.js';
export { MemoryTransaction, AsyncLock } from './event-store/memory-transaction.js';
export type { InTransactionHook } from './event-store/driver.js';
export type {
  DeadLetterReason,
  FailureInfo,
  Message,
  OutgoingMessage,
} from './messaging/message.js';
export type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from './messaging/transport.js';
export {
  Consumer,
  type ConsumerObserver,
  type ConsumerOptions,
  type MessageHandler,
  type SettledDelivery,
} from './messaging/consumer.js';
export { createTransport, type Transport } from './messaging/create-transport.js';
export { MemoryTransportDriver, type MemoryDeadLetter } from './messaging/memory-transport.js';
export {
  decodeBinary,
  encodeBinary,
  toMessage,
  type WireMessage,
} from './messaging/binary-codec.js';
export {
  DeadLetterManager,
  type DeadLetter,
  type DeadLetterManagerOptions,
  type DeadLetterQuery,
  type DeadLetterStore,
} from './messaging/dead-letters.js';
export {
  MemoryOutboxStore,
  OutboxRelay,
  type OutboxBacklog,
  type OutboxRecord,
  type OutboxRelayOptions,
  type OutboxStore,
} from './messaging/outbox.js';
export { dedupeWithin, MemoryInboxStore, withInbox, type InboxStore } from './messaging/inbox.js';
export * from './streams/index.js';
