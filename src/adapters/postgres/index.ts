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
export { PostgresSnapshotStore } from './postgres-snapshot-store.js';
export { type PostgresConnectionOptions } from './postgres-connection.js';
export {
  assertPostgresSchema,
  DEFAULT_SCHEMA,
  migratePostgresSchema,
  POSTGRES_SCHEMA_VERSION,
  schemaIdentity,
  type SchemaIdentity,
} from './postgres-schema.js';
