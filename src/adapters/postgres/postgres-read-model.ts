import { OwnedTables } from '../../projections/owned-tables.js';
import pg from 'pg';
import type { QueryResultRow } from 'pg';
import { serializeJson } from '../../core/serializer.js';
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
import { assertValidTable, qualified, quote } from './postgres-read-model-ddl.js';
import {
  invalid,
  PostgresSqlExecutor,
  READ_MODEL_TYPES,
  readOnlyError,
  statementName,
  type PgTarget,
} from './postgres-read-model-sql.js';

/**
 * The `Table` port on PostgreSQL. Handlers get a session bound to their transaction and their
 * projection version's tables; queries get the reader session, which goes through the views
 * and so follows an activation atomically.
 */

/** The session a projection handler writes through: its own tables, in one transaction. */
export class PostgresSession implements ReadModelSession {
  readonly sql: SqlExecutor;
  readonly #tables: OwnedTables<PostgresTable<Row>>;

  constructor(target: PgTarget, projection: ProjectionDefinition) {
    this.sql = new PostgresSqlExecutor(target);
    this.#tables = new OwnedTables(
      projection,
      (definition, physical) => new PostgresTable(target, definition, physical),
    );
  }

  table<R extends Row>(definition: TableDefinition<R>): Table<R> {
    return this.#tables.get(definition as TableDefinition) as unknown as Table<R>;
  }
}

/** Queries: each logical table through its view. */
export class PostgresReaderSession implements ReadModelSession {
  readonly sql: SqlExecutor;

  constructor(private readonly target: PgTarget) {
    this.sql = new PostgresSqlExecutor(target);
  }

  table<R extends Row>(definition: TableDefinition<R>): Table<R> {
    assertValidTable(definition as TableDefinition);
    return new PostgresTable<R>(this.target, definition, definition.name);
  }
}

export class PostgresTable<R extends Row> implements Table<R> {
  readonly #columns: string[];
  readonly #relation: string;
  readonly #select: string;
  readonly #key: string;
  /** The column types, part of every prepared statement's name (see `statementName`). */
  readonly #signature: string;

  constructor(
    private readonly target: PgTarget,
    private readonly definition: TableDefinition<R>,
    relation: string,
  ) {
    this.#columns = Object.keys(definition.columns);
    this.#relation = qualified(target.identity, relation);
    this.#select = `SELECT ${this.#columns.map(quote).join(', ')} FROM ${this.#relation}`;
    this.#key = quote(definition.primaryKey);
    this.#signature = Object.values(definition.columns).join(',');
  }

  async upsert(row: R): Promise<void> {
    this.#assertWritable();
    this.#assertColumns(row, 'row');
    const values = this.#columns.map((c) => this.#encode(c, row[c]));
    const others = this.#columns.filter((c) => c !== this.definition.primaryKey);
    // Every column is written, so an upsert replaces the whole row, as in the memory store.
    const text =
      `INSERT INTO ${this.#relation} (${this.#columns.map(quote).join(', ')})
       VALUES (${this.#columns.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (${this.#key}) DO ` +
      (others.length === 0
        ? 'NOTHING'
        : `UPDATE SET ${others.map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`).join(', ')}`);
    await this.#run(text, values);
  }

  async patch(key: R[keyof R & string], changes: Partial<R>): Promise<boolean> {
    this.#assertWritable();
    this.#assertColumns(changes, 'changes');
    const columns = Object.keys(changes);
    const keyValue = this.#encode(this.definition.primaryKey, key);
    if (columns.length === 0) return (await this.findById(key)) !== undefined;
    const text = `UPDATE ${this.#relation} SET ${columns.map((c, i) => `${quote(c)} = $${i + 1}`).join(', ')}
       WHERE ${this.#key} = $${columns.length + 1}`;
    const values = columns.map((c) => this.#encode(c, changes[c]));
    return ((await this.#run(text, [...values, keyValue])).rowCount ?? 0) > 0;
  }

  async delete(key: R[keyof R & string]): Promise<boolean> {
    this.#assertWritable();
    const text = `DELETE FROM ${this.#relation} WHERE ${this.#key} = $1`;
    const keyValue = this.#encode(this.definition.primaryKey, key);
    return ((await this.#run(text, [keyValue])).rowCount ?? 0) > 0;
  }

  async findById(key: R[keyof R & string]): Promise<R | undefined> {
    const text = `${this.#select} WHERE ${this.#key} = $1`;
    const { rows } = await this.#run(text, [this.#encode(this.definition.primaryKey, key)]);
    return rows[0] === undefined ? undefined : this.#decode(rows[0]);
  }

  async find(options: FindOptions<R> = {}): Promise<R[]> {
    const { clause, values } = this.#where(options.where);
    let text = `${this.#select}${clause}`;
    if (options.orderBy !== undefined) {
      if (!Object.hasOwn(this.definition.columns, options.orderBy))
        throw invalid(['orderBy'], `unknown column "${options.orderBy}"`);
      if (options.order !== undefined && options.order !== 'asc' && options.order !== 'desc')
        throw invalid(['order'], 'must be "asc" or "desc"');
      // NULLs sort first ascending, as in SQLite and the memory store; the key breaks ties,
      // so pages over equal values are stable.
      const direction = options.order === 'desc' ? 'DESC NULLS LAST' : 'ASC NULLS FIRST';
      text += ` ORDER BY ${quote(options.orderBy)} ${direction}, ${this.#key} ${direction}`;
    } else {
      text += ` ORDER BY ${this.#key}`;
    }
    if (options.limit !== undefined || options.offset !== undefined) {
      text += ` LIMIT $${values.length + 1} OFFSET $${values.length + 2}`;
      values.push(
        options.limit === undefined ? null : nonNegative(options.limit, 'limit'),
        options.offset === undefined ? 0 : nonNegative(options.offset, 'offset'),
      );
    }
    const { rows } = await this.#run(text, values);
    return rows.map((row) => this.#decode(row));
  }

  async count(where?: Partial<R>): Promise<number> {
    const { clause, values } = this.#where(where);
    const { rows } = await this.#run<{ n: number }>(
      `SELECT count(*) AS n FROM ${this.#relation}${clause}`,
      values,
    );
    return rows[0]?.n ?? 0;
  }

  #where(where: Partial<R> | undefined): { clause: string; values: unknown[] } {
    if (!where) return { clause: '', values: [] };
    this.#assertColumns(where, 'where');
    const parts: string[] = [];
    const values: unknown[] = [];
    for (const [column, value] of Object.entries(where)) {
      const encoded = this.#encode(column, value);
      if (encoded === null) {
        parts.push(`${quote(column)} IS NULL`);
      } else {
        values.push(encoded);
        parts.push(`${quote(column)} = $${values.length}`);
      }
    }
    return { clause: parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`, values };
  }

  async #run<T extends QueryResultRow = Row>(text: string, values: unknown[]) {
    const name = statementName(text, this.#signature);
    try {
      return await this.target.run<T>({
        ...(name === undefined ? {} : { name }),
        text,
        values,
        types: READ_MODEL_TYPES,
      });
    } catch (error) {
      // Through the reader, a missing view means no active projection owns the table.
      if (this.target.readOnly && error instanceof pg.DatabaseError && error.code === '42P01')
        throw invalid(['table'], `no active projection owns "${this.definition.name}"`);
      throw error;
    }
  }

  #encode(column: string, value: unknown): unknown {
    return encode(value, this.definition.columns[column as keyof R & string], column);
  }

  #decode(raw: Row): R {
    const row: Row = {};
    for (const column of this.#columns)
      row[column] = decode(raw[column], this.definition.columns[column as keyof R & string]);
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
}

/** JS value → parameter. The same checks as SQLite's, so a projection fails alike on both. */
function encode(value: unknown, type: ColumnType, column: string): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'text':
      if (typeof value === 'string') return value;
      break;
    case 'integer':
      // Via BigInt: `String(1e21)` is "1e+21", which bigint input rejects.
      if (Number.isInteger(value)) return BigInt(value as number).toString();
      if (typeof value === 'bigint') return value.toString();
      break;
    case 'real':
      if (typeof value === 'number' && !Number.isNaN(value)) return value;
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'json':
      // Serialized here: `pg` would turn a JS array into a PostgreSQL array literal.
      return serializeJson(value, `column ${column}`);
    case 'timestamp':
      if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
      break;
  }
  throw invalid([column], `expected ${type}, got ${describe(value)}`);
}

/** Result → JS value; tolerant of parsers an application may have set on `pg` globally. */
function decode(value: unknown, type: ColumnType): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'integer':
    case 'real':
      return Number(value);
    case 'boolean':
      return value === true || value === 't';
    case 'timestamp':
      return value instanceof Date ? value : new Date(String(value));
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
