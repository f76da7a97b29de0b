import type { Statement } from 'better-sqlite3';
import { ValidationError } from '../../core/errors.js';
import { serializeJson } from '../../core/serializer.js';
import type { Row, SqlExecutor } from '../../projections/read-model.js';
import { toStoreError, type SqliteDatabase } from './sqlite-schema.js';

/** Statement plumbing shared by the read-model tables and the raw SQL executor. */

/** Where a session's statements run. */
export interface SqliteTarget {
  readonly db: SqliteDatabase;
  /** For error messages. */
  readonly address: string;
  /** Throws once the statements may no longer run (transaction ended, store closed). */
  readonly check: () => void;
  /** Reader sessions only read: their writes would bypass leases and checkpoints. */
  readonly readOnly: boolean;
}

export type SqlValue = string | number | bigint | Buffer | null;

/** Identifiers in generated SQL are always quoted (names are validated as well). */
export function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

const MAX_CACHED = 256;
const caches = new WeakMap<SqliteDatabase, Map<string, Statement<unknown[], unknown>>>();

/** Statements are prepared once per connection; the cache is bounded against ad-hoc SQL. */
export function statement(db: SqliteDatabase, sql: string): Statement<unknown[], unknown> {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new Map()));
  let prepared = cache.get(sql);
  if (!prepared) {
    prepared = db.prepare<unknown[], unknown>(sql);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(sql, prepared);
  }
  return prepared;
}

/** Runs statements for a session: only while it is valid, with SQLite errors translated. */
export function run<T>(target: SqliteTarget, work: () => T): T {
  target.check();
  try {
    return work();
  } catch (error) {
    throw toStoreError(error, target.address);
  }
}

/** Raw SQL with `?` placeholders, on the session's connection and transaction. */
export class SqliteSqlExecutor implements SqlExecutor {
  readonly dialect = 'sqlite';

  constructor(private readonly target: SqliteTarget) {}

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const prepared = this.#prepare(sql);
    const values = params.map(bind);
    return run(this.target, () => {
      if (prepared.reader) return prepared.all(...values) as T[];
      prepared.run(...values);
      return [];
    });
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    if (this.target.readOnly) throw readOnlyError();
    const prepared = this.#prepare(sql);
    const values = params.map(bind);
    return run(this.target, () =>
      // `INSERT … RETURNING` is a reader statement: count the rows it returned.
      prepared.reader ? prepared.all(...values).length : prepared.run(...values).changes,
    );
  }

  #prepare(sql: string): Statement<unknown[], unknown> {
    // Ending or nesting the transaction from inside would break the batch's atomicity.
    if (/^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i.test(sql))
      throw invalid(['sql'], 'transaction control is not allowed here; the session owns it');
    const prepared = run(this.target, () => statement(this.target.db, sql));
    if (this.target.readOnly && !prepared.readonly) throw readOnlyError();
    return prepared;
  }
}

/** Raw SQL parameters: the same conversions as typed columns, where the type is obvious. */
function bind(value: unknown, index: number): SqlValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  if (
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'bigint' ||
    Buffer.isBuffer(value)
  )
    return value;
  return serializeJson(value, `parameter ${index + 1}`);
}

export function readOnlyError(): ValidationError {
  return invalid(['reader'], 'reader() is read-only; write read models in projection handlers');
}

export function invalid(path: (string | number)[], message: string): ValidationError {
  return new ValidationError('Invalid read-model operation', [{ path, message }]);
}
