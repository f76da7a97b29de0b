/**
 * `causeway/postgres`: every SQL-backed port on PostgreSQL via `pg` (an optional peer
 * dependency: install it to use this entry).
 */
export {
  createPostgresEventStore,
  PostgresEventStoreDriver,
  type PostgresEventStoreOptions,
} from './postgres-event-store.js';
export {
  appendInTransaction,
  type AppendInTransactionOptions,
  type Queryable,
} from './postgres-append.js';
export { PostgresCheckpointStore } from './postgres-checkpoint-store.js';
export {
  createPostgresProjectionStore,
  PostgresProjectionStore,
  type PostgresProjectionStoreOptions,
} from './postgres-projection-store.js';
export { isPostgresTransaction, PostgresTransaction } from './postgres-transaction.js';
export { PostgresSnapshotStore } from './postgres-snapshot-store.js';
export { type PostgresConnectionOptions, withTransaction } from './postgres-connection.js';
export { type PostgresStoreOptions } from './postgres-store.js';
export {
  createPostgresOutboxStore,
  PostgresOutboxStore,
  type PostgresOutboxStoreOptions,
} from './postgres-outbox.js';
export {
  createPostgresInboxStore,
  PostgresInboxStore,
  type PostgresInboxStoreOptions,
} from './postgres-inbox.js';
export {
  createPostgresIdempotencyStore,
  PostgresIdempotencyStore,
  type PostgresIdempotencyStoreOptions,
} from './postgres-idempotency-store.js';
export { DEFAULT_SCHEMA, schemaIdentity, type SchemaIdentity } from './postgres-identity.js';
export {
  assertPostgresSchema,
  migratePostgresSchema,
  POSTGRES_SCHEMA_VERSION,
} from './postgres-schema.js';
export {
  createPostgresTransportDriver,
  PostgresTransportDriver,
  type PostgresTransportOptions,
} from './postgres-transport.js';
export {
  PostgresDeadLetterStore,
  type PostgresDeadLetterStoreOptions,
} from './postgres-dead-letters.js';
export {
  createPostgresSagaStore,
  PostgresSagaStore,
  type PostgresSagaStoreOptions,
} from './postgres-saga-store.js';
export type { SqlDeadLetter } from '../sql/queue-consumer.js';
export { eventToMessage, type EventOutboxOptions } from '../sql/event-outbox.js';
export {
  createPostgresTimerStore,
  PostgresTimerStore,
  type PostgresTimerStoreOptions,
} from './postgres-timer-store.js';
export {
  createPostgresProcessStore,
  PostgresProcessStore,
  type PostgresProcessStoreOptions,
} from './postgres-process-store.js';
export {
  createPostgresStateRepository,
  PostgresStateRepository,
  type PostgresStateRepositoryOptions,
} from './postgres-state-repository.js';
