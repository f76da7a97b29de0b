import { ValidationError } from '../core/errors.js';

/**
 * Read-model tables: simple, typed, not an ORM. A table has a primary key and typed columns;
 * a handler upserts, patches and deletes rows by key; queries filter by equality, sort and
 * page. SQLite, PostgreSQL and memory implement the same `Table` port, so a projection runs
 * unchanged on all three.
 */
export type ColumnType = 'text' | 'integer' | 'real' | 'boolean' | 'json' | 'timestamp';

export type Row = Record<string, unknown>;

export interface TableDefinition<R extends Row = Row> {
  /**
   * Logical name; the physical table is `<name>_v<projection version>`, behind a view named
   * `<name>`. Table names are global to the database: two projections must not share one.
   */
  readonly name: string;
  readonly primaryKey: keyof R & string;
  readonly columns: { readonly [K in keyof R & string]: ColumnType };
  readonly indexes: ReadonlyArray<ReadonlyArray<keyof R & string>>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/;

export function defineTable<R extends Row>(definition: {
  name: string;
  primaryKey: keyof R & string;
  columns: { [K in keyof R & string]: ColumnType };
  indexes?: ReadonlyArray<ReadonlyArray<keyof R & string>>;
}): TableDefinition<R> {
  const issues: { path: string[]; message: string }[] = [];
  if (!IDENTIFIER.test(definition.name))
    issues.push({ path: ['name'], message: 'must match /^[a-z_][a-z0-9_]{0,47}$/' });
  for (const column of Object.keys(definition.columns)) {
    if (!IDENTIFIER.test(column))
      issues.push({
        path: ['columns', column],
        message: 'column names must match /^[a-z_][a-z0-9_]{0,47}$/',
      });
  }
  if (!(definition.primaryKey in definition.columns))
    issues.push({ path: ['primaryKey'], message: 'must be one of the columns' });
  for (const [i, index] of (definition.indexes ?? []).entries()) {
    for (const column of index) {
      if (!(column in definition.columns))
        issues.push({ path: ['indexes', String(i)], message: `unknown column "${column}"` });
    }
  }
  if (issues.length > 0) throw new ValidationError(`Invalid table "${definition.name}"`, issues);
  return { ...definition, indexes: definition.indexes ?? [] };
}

export type SortOrder = 'asc' | 'desc';

/** Without `orderBy` the order of rows is unspecified (it differs between backends). */
export interface FindOptions<R extends Row> {
  /** Equality filters, combined with AND. */
  where?: Partial<R>;
  orderBy?: keyof R & string;
  order?: SortOrder;
  limit?: number;
  offset?: number;
}

/** One table, bound to a transaction (in a projection) or to plain reads (in a query). */
export interface Table<R extends Row> {
  upsert(row: R): Promise<void>;
  /** Changes some columns of an existing row; `false` if there is no row with that key. */
  patch(key: R[keyof R & string], changes: Partial<R>): Promise<boolean>;
  delete(key: R[keyof R & string]): Promise<boolean>;
  findById(key: R[keyof R & string]): Promise<R | undefined>;
  find(options?: FindOptions<R>): Promise<R[]>;
  count(where?: Partial<R>): Promise<number>;
}

/** Raw SQL for what the table helpers don't cover. Placeholders follow the dialect. */
export interface SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface ReadModelSession {
  table<R extends Row>(definition: TableDefinition<R>): Table<R>;
  /** `undefined` on the in-memory backend. */
  readonly sql: SqlExecutor | undefined;
}

/** Physical table name of a logical table for one projection version. */
export function physicalTableName(definition: TableDefinition, version: number): string {
  return `${definition.name}_v${version}`;
}
