import { OwnedTables } from '../../projections/owned-tables.js';
import { deserializeJson, serializeJson } from '../../core/serializer.js';
import type { ProjectionDefinition } from '../../projections/projection.js';
import {
  type ColumnType,
  type FindOptions,
  type ReadModelSession,
  type Row,
  type SqlExecutor,
  type Table,
  type TableDefinition,
} from '../../projections/read-model.js';
import { assertValidTable } from './sqlite-read-model-schema.js';
import {
  invalid,
  quote,
  readOnlyError,
  run,
  SqliteSqlExecutor,
  statement,
  type SqlValue,
  type SqliteTarget,
} from './sqlite-sql.js';

/**
 * The `Table` port on SQLite. Handlers get a session bound to their transaction and their
 * projection version's tables; queries get the reader session, which goes through the views
 * and so follows an activation atomically.
 */

/** The session a projection handler writes through: its own tables, in one transaction. */
export class SqliteSession implements ReadModelSession {
  readonly sql: SqlExecutor;
  readonly #tables: OwnedTables<SqliteTable<Row>>;

  constructor(target: SqliteTarget, projection: ProjectionDefinition) {
    this.sql = new SqliteSqlExecutor(target);
    this.#tables = new OwnedTables(
      projection,
      (definition, physical) => new SqliteTable(target, definition, physical),
    );
  }

  table<R extends Row>(definition: TableDefinition<R>): Table<R> {
    return this.#tables.get(definition as TableDefinition) as unknown as Table<R>;
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
  #upsert: string | undefined;

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
    if (row[this.definition.primaryKey] === undefined || row[this.definition.primaryKey] === null)
      throw invalid(['row', this.definition.primaryKey], 'the primary key is required');
    this.#run(() => statement(this.target.db, this.#upsertSql()).run(...values));
  }

  /** Every column is written, so an upsert replaces the whole row, as in the memory store. */
  #upsertSql(): string {
    if (this.#upsert !== undefined) return this.#upsert;
    const others = this.#columns.filter((c) => c !== this.definition.primaryKey);
    this.#upsert =
      `INSERT INTO ${quote(this.relation)} (${this.#columns.map(quote).join(', ')})
       VALUES (${this.#columns.map(() => '?').join(', ')}) ON CONFLICT (${this.#key}) DO ` +
      (others.length === 0
        ? 'NOTHING'
        : `UPDATE SET ${others.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}`);
    return this.#upsert;
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
      if (!Object.hasOwn(this.definition.columns, options.orderBy))
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
      if (!Object.hasOwn(this.definition.columns, column))
        throw invalid([path, column], `"${this.definition.name}" has no column "${column}"`);
  }

  #assertWritable(): void {
    if (this.target.readOnly) throw readOnlyError();
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

function nonNegative(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw invalid([name], 'must be an integer >= 0');
  return value;
}

function describe(value: unknown): string {
  if (value instanceof Date) return 'an invalid Date';
  return typeof value === 'string' ? `"${value.slice(0, 40)}"` : `${typeof value} ${String(value)}`;
}
