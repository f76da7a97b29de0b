import type { ClientBase, Pool, PoolClient, QueryResultRow } from 'pg';
import { StoreClosedError, ValidationError } from '../../core/errors.js';
import {
  LeaseLostError,
  type ProjectionDefinition,
  type ProjectionState,
  type ProjectionStore,
} from '../../projections/projection.js';
import {
  physicalTableName,
  type ReadModelSession,
  type TableDefinition,
} from '../../projections/read-model.js';
import {
  openConnection,
  runQuery,
  toStoreError,
  type PostgresConnection,
  type PostgresConnectionOptions,
} from './postgres-connection.js';
import { schemaIdentity, type SchemaIdentity } from './postgres-identity.js';
import {
  stateStatements,
  toState,
  type StateRecord,
  type StateStatement,
} from './postgres-projection-sql.js';
import { PostgresReaderSession, PostgresSession } from './postgres-read-model.js';
import {
  assertValidTable,
  dropTable,
  ensureTable,
  nameUse,
  pointView,
  qualified,
} from './postgres-read-model-ddl.js';
import { PoolTarget, TransactionTarget } from './postgres-read-model-sql.js';
import { assertPostgresSchema, migratePostgresSchema } from './postgres-schema.js';
import { isPostgresTransaction } from './postgres-transaction.js';

export interface PostgresProjectionStoreOptions extends PostgresConnectionOptions {
  /** Create or upgrade the schema on start (`createPostgresProjectionStore`). Default true. */
  migrate?: boolean;
}

/**
 * Read models, checkpoints and leases in the event store's database and schema. A batch's
 * rows and its checkpoint commit in one transaction, so after any crash the read model equals
 * a replay of the log up to the checkpoint.
 *
 * Each projection version writes its own tables, `<table>_v<version>`; a view `<table>` points
 * at the active version and is switched inside the activation's transaction, so raw SQL and
 * `reader()` use one stable name. Leases are timed by the database's clock, so runners on
 * hosts whose clocks disagree still agree on who holds a projection. A batch locks its
 * projection's state row (`FOR UPDATE`) for its whole transaction: a runner taking over an
 * expired lease waits for that batch to commit or roll back, and then sees its checkpoint.
 */
export class PostgresProjectionStore implements ProjectionStore {
  readonly address: string;
  readonly identity: SchemaIdentity;
  readonly #connection: PostgresConnection;
  readonly #sql: ReturnType<typeof stateStatements>;
  readonly #reader: PostgresReaderSession;
  #closed = false;

  constructor(options: PostgresConnectionOptions = {}) {
    this.identity = schemaIdentity(options.schema);
    this.#connection = openConnection(options);
    this.address = this.#connection.address;
    this.#sql = stateStatements(this.identity);
    this.#reader = new PostgresReaderSession(
      new PoolTarget(this.#connection.pool, this.identity, this.address, () => this.#assertOpen()),
    );
  }

  /** The pool the store queries. */
  get pool(): Pool {
    return this.#connection.pool;
  }

  async prepare(projection: ProjectionDefinition): Promise<ProjectionState> {
    assertValidProjection(projection);
    return this.#ddl(async (client) => {
      for (const table of projection.tables)
        await ensureTable(
          client,
          this.identity,
          table,
          physicalTableName(table, projection.version),
        );
      const key = [projection.name, projection.version];
      const first = ((await this.#on(client, 'insert', key)).rowCount ?? 0) > 0;
      const state = (await this.#on<StateRecord>(client, 'get', key)).rows[0]!;
      if (state.status === 'active') {
        for (const table of projection.tables) {
          // A view left by someone else is only replaced when this is a new projection.
          const use = await nameUse(client, this.identity, table);
          if (use.kind === 'missing' || first)
            await pointView(
              client,
              this.identity,
              table,
              physicalTableName(table, projection.version),
            );
        }
      }
      return toState(state);
    });
  }

  async get(name: string, version: number): Promise<ProjectionState | undefined> {
    const { rows } = await this.#query<StateRecord>('get', [name, version]);
    return rows[0] && toState(rows[0]);
  }

  async list(): Promise<ProjectionState[]> {
    return (await this.#query<StateRecord>('list', [])).rows.map(toState);
  }

  async acquireLease(
    name: string,
    version: number,
    owner: string,
    ttlMs: number,
  ): Promise<boolean> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw invalid(['ttlMs'], 'must be a number > 0');
    const taken = await this.#query('acquire', [name, version, owner, ttlMs]);
    if ((taken.rowCount ?? 0) > 0) return true;
    await this.#require(name, version);
    return false;
  }

  async releaseLease(name: string, version: number, owner: string): Promise<void> {
    await this.#query('release', [name, version, owner]);
  }

  async applyBatch(
    projection: ProjectionDefinition,
    owner: string,
    fromPosition: number,
    toPosition: number,
    work: (session: ReadModelSession) => Promise<void>,
  ): Promise<void> {
    const key = [projection.name, projection.version];
    await this.#transaction(async (client, isOpen) => {
      const { rows } = await this.#on<{ position: string; held: boolean | null }>(
        client,
        'lockForBatch',
        [...key, owner],
      );
      const state = rows[0];
      if (!state) throw unknownProjection(projection.name, projection.version);
      if (state.held !== true || Number(state.position) !== fromPosition)
        throw new LeaseLostError(projection.name, owner);
      const target = new TransactionTarget(client, this.identity, this.address, isOpen);
      await work(new PostgresSession(target, projection));
      await this.#on(client, 'advance', [...key, toPosition]);
    });
  }

  async setPaused(name: string, version: number, paused: boolean): Promise<void> {
    const { rowCount } = await this.#query('setPaused', [name, version, paused]);
    if (!rowCount) throw unknownProjection(name, version);
  }

  async setError(name: string, version: number, error: string | undefined): Promise<void> {
    const { rowCount } = await this.#query('setError', [name, version, error ?? null]);
    if (!rowCount) throw unknownProjection(name, version);
  }

  async reset(projection: ProjectionDefinition): Promise<void> {
    assertValidProjection(projection);
    const key = [projection.name, projection.version];
    await this.#transaction(async (client) => {
      if ((await this.#on(client, 'lock', key)).rowCount === 0)
        throw unknownProjection(projection.name, projection.version);
      const tables = projection.tables.map((t) =>
        qualified(this.identity, physicalTableName(t, projection.version)),
      );
      if (tables.length > 0) await client.query(`TRUNCATE ${tables.join(', ')}`);
      await this.#on(client, 'advance', [...key, 0]);
    });
  }

  async activate(projection: ProjectionDefinition): Promise<void> {
    assertValidProjection(projection);
    await this.#ddl(async (client) => {
      const key = [projection.name, projection.version];
      if ((await this.#on(client, 'lock', key)).rowCount === 0)
        throw unknownProjection(projection.name, projection.version);
      await this.#on(client, 'activate', key);
      for (const table of projection.tables)
        await pointView(client, this.identity, table, physicalTableName(table, projection.version));
    });
  }

  async drop(name: string, version: number, tables: readonly TableDefinition[]): Promise<void> {
    for (const table of tables) assertValidTable(table, physicalTableName(table, version));
    await this.#ddl(async (client) => {
      for (const table of tables)
        await dropTable(client, this.identity, table, physicalTableName(table, version));
      await this.#on(client, 'remove', [name, version]);
    });
  }

  reader(): ReadModelSession {
    return this.#reader;
  }

  /**
   * The session inline projections write through: the event store's connection, inside its
   * open append transaction (a `PostgresTransaction`). A plain `pg` client in a transaction
   * you opened yourself works too, e.g. next to `appendInTransaction`; raw SQL through the
   * session then puts this store's schema first on that transaction's search path.
   */
  inlineSession(transaction: unknown, projection: ProjectionDefinition): ReadModelSession {
    if (isPostgresTransaction(transaction)) {
      if (transaction.schema !== this.identity.schema)
        throw invalid(
          ['inline'],
          `the events go to schema "${transaction.schema}" but this projection store is in "${this.identity.schema}"; both must share one transaction`,
        );
      const target = new TransactionTarget(
        transaction.client,
        this.identity,
        this.address,
        () => transaction.open,
      );
      return new PostgresSession(target, projection);
    }
    if (isClient(transaction))
      return new PostgresSession(
        new TransactionTarget(transaction, this.identity, this.address, () => true),
        projection,
      );
    throw invalid(
      ['inline'],
      'the PostgreSQL projection store only works with the PostgreSQL event store (or a pg client)',
    );
  }

  /** Ends the pool if this store opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#connection.ownsPool) await this.#connection.pool.end();
  }

  /** One transaction on one pooled connection; ROLLBACK on any error. */
  async #transaction<T>(
    work: (client: ClientBase, isOpen: () => boolean) => Promise<T>,
  ): Promise<T> {
    this.#assertOpen();
    let client: PoolClient;
    try {
      client = await this.#connection.pool.connect();
    } catch (error) {
      throw toStoreError(error, this.address);
    }
    let open = true;
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client, () => open);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A connection that cannot even roll back is discarded rather than reused.
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw toStoreError(error, this.address);
    } finally {
      open = false;
      client.release(broken);
    }
  }

  /**
   * A transaction that changes tables or views, holding the schema's migration lock so that
   * two processes preparing the same projection don't race on the catalog.
   */
  #ddl<T>(work: (client: ClientBase) => Promise<T>): Promise<T> {
    return this.#transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1::int4, $2::int4)', [
        ...this.identity.migrationLock,
      ]);
      return work(client);
    });
  }

  #on<R extends QueryResultRow>(client: ClientBase, statement: StateStatement, values: unknown[]) {
    return client.query<R>({
      name: `${this.identity.statementPrefix}proj_${statement}`,
      text: this.#sql[statement],
      values,
    });
  }

  async #query<R extends QueryResultRow>(statement: StateStatement, values: unknown[]) {
    this.#assertOpen();
    try {
      return await runQuery<R>(this.#connection.pool, {
        name: `${this.identity.statementPrefix}proj_${statement}`,
        text: this.#sql[statement],
        values,
      });
    } catch (error) {
      throw toStoreError(error, this.address);
    }
  }

  async #require(name: string, version: number): Promise<void> {
    if ((await this.#query('get', [name, version])).rows.length === 0)
      throw unknownProjection(name, version);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}

/**
 * Opens a projection store in the schema of a PostgreSQL event store (by default migrating
 * it, so this also works before the event store was ever opened). Pass the event store's pool
 * to share connections: `createPostgresProjectionStore({ pool: driver.pool, schema })`.
 */
export async function createPostgresProjectionStore(
  options: PostgresProjectionStoreOptions = {},
): Promise<PostgresProjectionStore> {
  const store = new PostgresProjectionStore(options);
  try {
    if (options.migrate ?? true) await migratePostgresSchema(store.pool, store.identity.schema);
    else await assertPostgresSchema(store.pool, store.identity.schema);
  } catch (error) {
    await store.close();
    throw toStoreError(error, store.address);
  }
  return store;
}

function isClient(value: unknown): value is ClientBase {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { query?: unknown }).query === 'function' &&
    typeof (value as { connect?: unknown }).connect === 'function' &&
    // A pool has `query` and `connect` too, but its statements are not one transaction.
    !('totalCount' in value)
  );
}

/** The version becomes part of table names, so it is checked here as well as by `defineProjection`. */
function assertValidProjection(projection: ProjectionDefinition): void {
  if (!Number.isSafeInteger(projection.version) || projection.version < 1)
    throw invalid(['version'], 'must be an integer >= 1', 'Invalid projection');
  for (const table of projection.tables)
    assertValidTable(table, physicalTableName(table, projection.version));
}

function unknownProjection(name: string, version: number): ValidationError {
  return invalid(['projection'], `${name} v${version} was never prepared`, 'Unknown projection');
}

function invalid(
  path: string[],
  message: string,
  title = 'Invalid PostgreSQL projection store use',
): ValidationError {
  return new ValidationError(title, [{ path, message }]);
}
