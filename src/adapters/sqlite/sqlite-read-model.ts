import type { Statement } from 'better-sqlite3';
import { ValidationError } from '../../core/errors.js';
import { deserializeJson, serializeJson } from '../../core/serializer.js';
import type { ProjectionDefinition } from '../../projections/projection.js';
import {
  physicalTableName,
  type ColumnType,
  type FindOptions,
  type ReadModelSession,
  type Row,
  type SqlExecutor,
  type Table,
  type TableDefinition,
} from '../../projections/read-model.js';
import { toStoreError, type SqliteDatabase } from './sqlite-schema.js';

/**
 * Read-model tables on SQLite: one physical table per projection version, typed columns, plain
 * SQL. Values are stored so that raw SQL sees natural types: booleans as 0/1, timestamps as
 * epoch milliseconds (exact for a JS `Date`, and they sort), JSON as text.
 */

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

type SqlValue = string | number | bigint | Buffer | null;

const SQL_TYPES: Record<ColumnType, string> = {
  text: 'TEXT',
  integer: 'INTEGER',
  real: 'REAL',
  boolean: 'INTEGER',
  json: 'TEXT',
  timestamp: 'INTEGER',
};

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/;
const RESERVED = /^(causeway_|sqlite_)/;

/** Names go into SQL text, so they are checked here too, not only by `defineTable`. */
export function assertValidTable(definition: TableDefinition): void {
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (!IDENTIFIER.test(definition.name) || RESERVED.test(definition.name))
    issues.push({
      path: ['name'],
      message: 'must match /^[a-z_][a-z0-9_]{0,47}$/ and not start with causeway_ or sqlite_',
    });
  for (const [column, type] of Object.entries(definition.columns)) {
    if (!IDENTIFIER.test(column))
      issues.push({ path: ['columns', column], message: 'must match /^[a-z_][a-z0-9_]{0,47}$/' });
    if (!(type in SQL_TYPES))
      issues.push({ path: ['columns', column], message: `unknown column type "${type}"` });
  }
  if (!(definition.primaryKey in definition.columns))
    issues.push({ path: ['primaryKey'], message: 'must be one of the columns' });
  for (const [i, index] of definition.indexes.entries())
    for (const column of index)
      if (!(column in definition.columns))
        issues.push({ path: ['indexes', i], message: `unknown column "${column}"` });
  if (issues.length > 0) throw new ValidationError(`Invalid table "${definition.name}"`, issues);
}

export function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/** The DDL for one version's table and its indexes; idempotent. */
export function createTableSql(definition: TableDefinition, physical: string): string[] {
  const columns = Object.entries(definition.columns).map(([column, type]) =>
    column === definition.primaryKey
      ? `${quote(column)} ${SQL_TYPES[type]} NOT NULL PRIMARY KEY`
      : `${quote(column)} ${SQL_TYPES[type]}`,
  );
  return [
    `CREATE TABLE IF NOT EXISTS ${quote(physical)} (${columns.join(', ')})`,
    ...definition.indexes.map(
      (index) =>
        `CREATE INDEX IF NOT EXISTS ${quote(`${physical}__${index.join('__')}`)}
         ON ${quote(physical)} (${index.map(quote).join(', ')})`,
    ),
  ];
}

/**
 * Fails when an existing table was created from a different definition: changing a table's
 * shape needs a new projection version, which builds new tables beside the old ones.
 */
export function assertTableMatches(
  db: SqliteDatabase,
  definition: TableDefinition,
  physical: string,
): void {
  const actual = db
    .prepare<[], { name: string; type: string; pk: number }>(
      `SELECT name, type, pk FROM pragma_table_info(${sqlString(physical)}) ORDER BY cid`,
    )
    .all()
    .map((c) => `${c.name} ${c.type}${c.pk ? ' pk' : ''}`);
  const wanted = Object.entries(definition.columns).map(
    ([column, type]) =>
      `${column} ${SQL_TYPES[type]}${column === definition.primaryKey ? ' pk' : ''}`,
  );
  if (actual.join(', ') !== wanted.join(', ')) {
    throw new ValidationError('Table definition changed', [
      {
        path: ['tables', definition.name],
        message: `${physical} exists with (${actual.join(', ')}) but the definition says (${wanted.join(', ')}); bump the projection version to build new tables`,
      },
    ]);
  }
}

/** The stable name users query: a view on the active version's table. */
export function viewSql(definition: TableDefinition, physical: string): string {
  return `CREATE VIEW ${quote(definition.name)} AS SELECT * FROM ${quote(physical)}`;
}

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

const MAX_CACHED = 256;
const caches = new WeakMap<SqliteDatabase, Map<string, Statement<unknown[], unknown>>>();

/** Statements are prepared once per connection; the cache is bounded against ad-hoc SQL. */
function statement(db: SqliteDatabase, sql: string): Statement<unknown[], unknown> {
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

function run<T>(target: SqliteTarget, work: () => T): T {
  target.check();
  try {
    return work();
  } catch (error) {
    throw toStoreError(error, target.address);
  }
}

/** The session a projection handler writes through: its own tables, in one transaction. */
export class SqliteSession implements ReadModelSession {
  readonly sql: SqlExecutor;
  readonly #tables = new Map<TableDefinition, SqliteTable<Row>>();

  constructor(
    private readonly target: SqliteTarget,
    private readonly projection: ProjectionDefinition,
  ) {
    this.sql = new SqliteSqlExecutor(target);
  }

  table<R extends Row>(definition: TableDefinition<R>): Table<R> {
    let table = this.#tables.get(definition as TableDefinition);
    if (!table) {
      if (!this.projection.tables.some((t) => t.name === definition.name)) {
        throw new ValidationError('Table not owned by projection', [
          {
            path: ['table'],
            message: `projection "${this.projection.name}" does not declare "${definition.name}"`,
          },
        ]);
      }
      const physical = physicalTableName(definition as TableDefinition, this.projection.version);
      table = new SqliteTable(this.target, definition as TableDefinition, physical);
      this.#tables.set(definition as TableDefinition, table);
    }
    return table as unknown as Table<R>;
  }
}

/** Queries: each logical table through its view, so they follow activations atomically. */
export class SqliteReaderSession implements ReadModelSession {
  readonly sql: SqlExecutor;

  constructor(private readonly target: SqliteTarget) {
    this.sql = new SqliteSqlExecutor(target);
  }

  table<R extends Row>(definition: TableDefinition<R>): Table<R> {
    assertValidTable(definition as TableDefinition);
    return new SqliteTable<R>(this.target, definition, definition.name);
  }
}

export class SqliteTable<R extends Row> implements Table<R> {
  readonly #columns: string[];
  readonly #select: string;
  readonly #key: string;

  constructor(
    private readonly target: SqliteTarget,
    private readonly definition: TableDefinition<R>,
    private readonly relation: string,
  ) {
    this.#columns = Object.keys(definition.columns);
    this.#select = `SELECT ${this.#columns.map(quote).join(', ')} FROM ${quote(relation)}`;
    this.#key = quote(definition.primaryKey);
  }

  async upsert(row: R): Promise<void> {
    this.#assertWritable();
    this.#assertColumns(row, 'row');
    const values = this.#columns.map((c) => this.#encode(c, row[c]));
    const others = this.#columns.filter((c) => c !== this.definition.primaryKey);
    // Every column is written, so an upsert replaces the whole row, as in the memory store.
    const sql =
      `INSERT INTO ${quote(this.relation)} (${this.#columns.map(quote).join(', ')})
       VALUES (${this.#columns.map(() => '?').join(', ')}) ON CONFLICT (${this.#key}) DO ` +
      (others.length === 0
        ? 'NOTHING'
        : `UPDATE SET ${others.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}`);
    this.#run(() => statement(this.target.db, sql).run(...values));
  }

  async patch(key: R[keyof R & string], changes: Partial<R>): Promise<boolean> {
    this.#assertWritable();
    this.#assertColumns(changes, 'changes');
    const columns = Object.keys(changes);
    const keyValue = this.#encode(this.definition.primaryKey, key);
    if (columns.length === 0) return (await this.findById(key)) !== undefined;
    const sql = `UPDATE ${quote(this.relation)} SET ${columns.map((c) => `${quote(c)} = ?`).join(', ')}
       WHERE ${this.#key} = ?`;
    const values = columns.map((c) => this.#encode(c, changes[c]));
    return this.#run(() => statement(this.target.db, sql).run(...values, keyValue)).changes > 0;
  }

  async delete(key: R[keyof R & string]): Promise<boolean> {
    this.#assertWritable();
    const sql = `DELETE FROM ${quote(this.relation)} WHERE ${this.#key} = ?`;
    const keyValue = this.#encode(this.definition.primaryKey, key);
    return this.#run(() => statement(this.target.db, sql).run(keyValue)).changes > 0;
  }

  async findById(key: R[keyof R & string]): Promise<R | undefined> {
    const sql = `${this.#select} WHERE ${this.#key} = ?`;
    const keyValue = this.#encode(this.definition.primaryKey, key);
    const row = this.#run(() => statement(this.target.db, sql).get(keyValue));
    return row === undefined ? undefined : this.#decode(row as Row);
  }

  async find(options: FindOptions<R> = {}): Promise<R[]> {
    const { clause, params } = this.#where(options.where);
    let sql = `${this.#select}${clause}`;
    if (options.orderBy !== undefined) {
      if (!(options.orderBy in this.definition.columns))
        throw invalid(['orderBy'], `unknown column "${options.orderBy}"`);
      if (options.order !== undefined && options.order !== 'asc' && options.order !== 'desc')
        throw invalid(['order'], 'must be "asc" or "desc"');
      const direction = options.order === 'desc' ? 'DESC' : 'ASC';
      // The key breaks ties, so pages over equal values are stable.
      sql += ` ORDER BY ${quote(options.orderBy)} ${direction}, ${this.#key} ${direction}`;
    } else {
      sql += ` ORDER BY ${this.#key}`;
    }
    if (options.limit !== undefined || options.offset !== undefined) {
      sql += ' LIMIT ? OFFSET ?';
      params.push(
        options.limit === undefined ? -1 : nonNegative(options.limit, 'limit'),
        options.offset === undefined ? 0 : nonNegative(options.offset, 'offset'),
      );
    }
    const rows = this.#run(() => statement(this.target.db, sql).all(...params));
    return rows.map((row) => this.#decode(row as Row));
  }

  async count(where?: Partial<R>): Promise<number> {
    const { clause, params } = this.#where(where);
    const sql = `SELECT count(*) AS n FROM ${quote(this.relation)}${clause}`;
    const row = this.#run(() => statement(this.target.db, sql).get(...params)) as { n: number };
    return row.n;
  }

  #where(where: Partial<R> | undefined): { clause: string; params: SqlValue[] } {
    if (!where) return { clause: '', params: [] };
    this.#assertColumns(where, 'where');
    const parts: string[] = [];
    const params: SqlValue[] = [];
    for (const [column, value] of Object.entries(where)) {
      const encoded = this.#encode(column, value);
      if (encoded === null) {
        parts.push(`${quote(column)} IS NULL`);
      } else {
        parts.push(`${quote(column)} = ?`);
        params.push(encoded);
      }
    }
    return { clause: parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`, params };
  }

  #encode(column: string, value: unknown): SqlValue {
    return encode(value, this.definition.columns[column as keyof R & string], column);
  }

  #decode(raw: Row): R {
    const row: Row = {};
    for (const column of this.#columns)
      row[column] = decode(
        raw[column],
        this.definition.columns[column as keyof R & string],
        `${this.definition.name}.${column}`,
      );
    return row as R;
  }

  #assertColumns(values: object, path: string): void {
    for (const column of Object.keys(values))
      if (!(column in this.definition.columns))
        throw invalid([path, column], `"${this.definition.name}" has no column "${column}"`);
  }

  #assertWritable(): void {
    if (this.target.readOnly) throw readOnly();
  }

  #run<T>(work: () => T): T {
    try {
      return run(this.target, work);
    } catch (error) {
      // Through the reader, a missing view means no active projection owns the table.
      if (
        this.target.readOnly &&
        error instanceof Error &&
        error.message === `no such table: ${this.relation}`
      )
        throw invalid(['table'], `no active projection owns "${this.definition.name}"`);
      throw error;
    }
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
    if (this.target.readOnly) throw readOnly();
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
    if (this.target.readOnly && !prepared.readonly) throw readOnly();
    return prepared;
  }
}

function encode(value: unknown, type: ColumnType, column: string): SqlValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'text':
      if (typeof value === 'string') return value;
      break;
    case 'integer':
      if (Number.isInteger(value) || typeof value === 'bigint') return value as number | bigint;
      break;
    case 'real':
      if (typeof value === 'number' && !Number.isNaN(value)) return value;
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value ? 1 : 0;
      break;
    case 'json':
      return serializeJson(value, `column ${column}`);
    case 'timestamp':
      if (value instanceof Date && !Number.isNaN(value.getTime())) return value.getTime();
      break;
  }
  throw invalid([column], `expected ${type}, got ${describe(value)}`);
}

function decode(value: unknown, type: ColumnType, what: string): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'boolean':
      return value === 1 || value === 1n;
    case 'json':
      return deserializeJson(String(value), what);
    case 'timestamp':
      return new Date(Number(value));
    default:
      return value;
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

function nonNegative(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw invalid([name], 'must be an integer >= 0');
  return value;
}

function describe(value: unknown): string {
  if (value instanceof Date) return 'an invalid Date';
  return typeof value === 'string' ? `"${value.slice(0, 40)}"` : `${typeof value} ${String(value)}`;
}

function readOnly(): ValidationError {
  return invalid(['reader'], 'reader() is read-only; write read models in projection handlers');
}

function invalid(path: (string | number)[], message: string): ValidationError {
  return new ValidationError('Invalid read-model operation', [{ path, message }]);
}
