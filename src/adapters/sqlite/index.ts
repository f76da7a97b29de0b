/**
 * `causeway/sqlite`: every SQL-backed port on one SQLite file via better-sqlite3 (an optional
 * peer dependency: install it to use this entry).
 */
export {
  createSqliteEventStore,
  SqliteEventStoreDriver,
  type SqliteEventStoreOptions,
} from './sqlite-event-store.js';
export { appendInTransaction } from './sqlite-append.js';
export { SqliteCheckpointStore } from './sqlite-checkpoint-store.js';
export { SqliteSnapshotStore } from './sqlite-snapshot-store.js';
export {
  createSqliteProjectionStore,
  SqliteProjectionStore,
  type SqliteProjectionStoreOptions,
} from './sqlite-projection-store.js';
export {
  migrate,
  openSqliteDatabase,
  prepareDatabase,
  SCHEMA_VERSION,
  type SqliteDatabase,
} from './sqlite-schema.js';
export {
  isSqliteTransaction,
  runSerialized,
  SqliteTransaction,
  withTransaction,
} from './sqlite-transaction.js';
export { SqliteOutboxStore } from './sqlite-outbox.js';
export { SqliteInboxStore } from './sqlite-inbox.js';
export {
  SqliteIdempotencyStore,
  type SqliteIdempotencyStoreOptions,
} from './sqlite-idempotency-store.js';
export { SqliteTransportDriver, type SqliteTransportOptions } from './sqlite-transport.js';
export { SqliteDeadLetterStore } from './sqlite-dead-letters.js';
export { SqliteSagaStore, type SqliteSagaStoreOptions } from './sqlite-saga-store.js';
export type { SqlDeadLetter } from '../sql/queue-consumer.js';
export { eventToMessage, type EventOutboxOptions } from '../sql/event-outbox.js';
export { SqliteTimerStore } from './sqlite-timer-store.js';
export { SqliteProcessStore } from './sqlite-process-store.js';
export {
  SqliteStateRepository,
  type SqliteStateRepositoryOptions,
} from './sqlite-state-repository.js';
