import type { PoolClient, QueryResultRow } from 'pg';
import { StoreClosedError } from '../../core/errors.js';
import {
  openConnection,
  runQuery,
  toStoreError,
  withTransaction,
  type PostgresConnection,
  type PostgresConnectionOptions,
} from './postgres-connection.js';
import { schemaIdentity, type SchemaIdentity } from './postgres-identity.js';
import { assertPostgresSchema, migratePostgresSchema } from './postgres-schema.js';

export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /** Create or upgrade the schema on start. Default true; turn off when a deploy step does it. */
  migrate?: boolean;
}

/**
 * What the outbox, inbox and idempotency stores share: a pool (theirs or yours), the schema,
 * named statements, driver errors turned into typed ones, and a `close` that ends only a pool
 * the store opened.
 */
export abstract class PostgresStore {
  readonly address: string;
  readonly identity: SchemaIdentity;
  protected readonly connection: PostgresConnection;
  #closed = false;

  constructor(options: PostgresConnectionOptions) {
    this.identity = schemaIdentity(options.schema);
    this.connection = openConnection(options);
    this.address = this.connection.address;
  }

  async migrate(): Promise<void> {
    await this.run(() => migratePostgresSchema(this.connection.pool, this.identity.schema));
  }

  async checkSchema(): Promise<void> {
    await this.run(() => assertPostgresSchema(this.connection.pool, this.identity.schema));
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.onClose();
    if (this.connection.ownsPool) await this.connection.pool.end();
  }

  /** Subclasses stop their own machinery (listeners, timers) here. */
  protected async onClose(): Promise<void> {}

  protected query<R extends QueryResultRow>(name: string, text: string, values: unknown[]) {
    return this.run(() =>
      runQuery<R>(this.connection.pool, {
        name: `${this.identity.statementPrefix}${name}`,
        text,
        values,
      }),
    );
  }

  protected transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.run(() => withTransaction(this.connection.pool, work));
  }

  protected async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError();
    try {
      return await work();
    } catch (error) {
      throw toStoreError(error, this.address);
    }
  }
}

/** Migrates (or checks) the schema of a freshly built store; closes it if that fails. */
export async function openPostgresStore<S extends PostgresStore>(
  store: S,
  options: PostgresStoreOptions,
): Promise<S> {
  try {
    await (options.migrate === false ? store.checkSchema() : store.migrate());
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
