import { createHash } from 'node:crypto';
import pg from 'pg';
import type {
  ClientBase,
  CustomTypesConfig,
  Pool,
  QueryConfig,
  QueryResult,
  QueryResultRow,
} from 'pg';
import { ValidationError } from '../../core/errors.js';
import { deserializeJson } from '../../core/serializer.js';
import type { Row, SqlExecutor } from '../../projections/read-model.js';
import { runQuery, toStoreError } from './postgres-connection.js';
import type { SchemaIdentity } from './postgres-identity.js';

/**
 * Where read-model statements run: a transaction's connection (a batch, an inline append) or
 * the pool (queries). Shared by the typed tables and the raw SQL executor.
 */

const INT8 = 20;
const JSON_OID = 114;
const JSONB = 3802;

/**
 * Result parsing for read models, whatever parsers the application set on `pg` globally:
 * bigint as a JS number (as SQLite returns integers; exact up to 2^53), json(b) parsed.
 */
export const READ_MODEL_TYPES: CustomTypesConfig = {
  // Cast: one function cannot be typed as pg-types' overload set (text and binary parsers).
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8) return (value: string) => Number(value);
    if (oid === JSONB || oid === JSON_OID)
      return (value: string) => deserializeJson(value, 'a json read-model column');
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as CustomTypesConfig['getTypeParser'],
};

export interface PgTarget {
  readonly identity: SchemaIdentity;
  readonly address: string;
  /** Reader sessions only read: their writes would bypass leases and checkpoints. */
  readonly readOnly: boolean;
  /** A statement the adapter generated (prepared once per connection when named). */
  run<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>>;
  /** A user's statement, with the store's schema first on the search path. */
  runRaw<R extends QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>>;
}

/** `SET LOCAL search_path`, keeping what was there (extensions in `public`, say) behind it. */
function searchPathSql(identity: SchemaIdentity): string {
  return `SELECT set_config('search_path', '${identity.quoted}, ' || current_setting('search_path'), true)`;
}

/** Statements on one connection inside a transaction someone else begins and ends. */
export class TransactionTarget implements PgTarget {
  readonly readOnly = false;
  #searchPath: Promise<unknown> | undefined;

  constructor(
    private readonly client: ClientBase,
    readonly identity: SchemaIdentity,
    readonly address: string,
    /** Whether the transaction is still open; statements after its end are refused. */
    private readonly isOpen: () => boolean,
  ) {}

  async run<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>> {
    this.#assertOpen();
    try {
      return await this.client.query<R>(config);
    } catch (error) {
      throw toStoreError(error, this.address);
    }
  }

  async runRaw<R extends QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    // Set once per transaction, and only when raw SQL is used: tables need no round trip.
    this.#searchPath ??= this.run({ text: searchPathSql(this.identity) });
    await this.#searchPath;
    return this.run<R>(userStatement(text, values));
  }

  #assertOpen(): void {
    if (!this.isOpen())
      throw invalid(
        ['session'],
        'this session belonged to a batch or an append that has ended; use the one passed to the handler',
      );
  }
}

/** Queries on the pool; each reads committed data. */
export class PoolTarget implements PgTarget {
  readonly readOnly = true;

  constructor(
    private readonly pool: Pool,
    readonly identity: SchemaIdentity,
    readonly address: string,
    private readonly assertOpen: () => void,
  ) {}

  async run<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>> {
    this.assertOpen();
    try {
      return await runQuery<R>(this.pool, config);
    } catch (error) {
      throw toStoreError(error, this.address);
    }
  }

  /**
   * In a READ ONLY transaction, so the database refuses writes (a `SELECT` may call a function
   * that writes). Three round trips instead of one: the price of that guarantee.
   */
  async runRaw<R extends QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    this.assertOpen();
    let client: pg.PoolClient | undefined;
    let broken: Error | undefined;
    try {
      client = await this.pool.connect();
      await client.query(`BEGIN READ ONLY; ${searchPathSql(this.identity)}`);
      const result = await client.query<R>(userStatement(text, values));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client?.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      if (isReadOnlyViolation(error)) throw readOnlyError();
      throw toStoreError(error, this.address);
    } finally {
      client?.release(broken);
    }
  }
}

/**
 * Always the extended protocol, even without parameters: it runs exactly one statement, so
 * `SELECT 1; COMMIT; …` cannot end the session's transaction. (`queryMode` is missing from
 * @types/pg, hence the wider type.)
 */
function userStatement(text: string, values: unknown[]): QueryConfig {
  const config: QueryConfig & { queryMode: 'extended' } = {
    text,
    values,
    types: READ_MODEL_TYPES,
    queryMode: 'extended',
  };
  return config;
}

function isReadOnlyViolation(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === '25006';
}

/** Raw SQL with `$1` placeholders; parameters are passed to `pg` as they are. */
export class PostgresSqlExecutor implements SqlExecutor {
  readonly dialect = 'postgres';

  constructor(private readonly target: PgTarget) {}

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    assertNoTransactionControl(sql);
    return (await this.target.runRaw<T>(sql, [...params])).rows;
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    if (this.target.readOnly) throw readOnlyError();
    assertNoTransactionControl(sql);
    const result = await this.target.runRaw(sql, [...params]);
    // `INSERT … RETURNING` reports its rows; a utility statement reports none.
    return result.rowCount ?? result.rows.length;
  }
}

/** Ending or nesting the transaction from inside would break the batch's atomicity. */
function assertNoTransactionControl(sql: string): void {
  if (
    /^\s*(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i.test(
      sql,
    )
  )
    throw invalid(['sql'], 'transaction control is not allowed here; the session owns it');
}

const names = new Map<string, string>();
const MAX_NAMED = 2_000;

/**
 * A prepared-statement name for generated SQL. The key includes the column types the result
 * is decoded with: PostgreSQL refuses to run a prepared statement whose result types changed
 * (a view switched to a version with other types), and a new name prepares it afresh.
 * Unnamed past a bound, in case something generates statements without end.
 */
export function statementName(text: string, signature: string): string | undefined {
  const key = `${text}\u0000${signature}`;
  let name = names.get(key);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `cw_rm_${createHash('sha1').update(key).digest('hex').slice(0, 24)}`;
    names.set(key, name);
  }
  return name;
}

export function readOnlyError(): ValidationError {
  return invalid(['reader'], 'reader() is read-only; write read models in projection handlers');
}

export function invalid(path: (string | number)[], message: string): ValidationError {
  return new ValidationError('Invalid read-model operation', [{ path, message }]);
}
