import { ValidationError } from '../../core/errors.js';
import type { ColumnType, TableDefinition } from '../../projections/read-model.js';
import type { SqliteDatabase } from './sqlite-schema.js';
import { quote, sqlString } from './sqlite-sql.js';

/**
 * The DDL of read-model tables: one physical table per projection version with typed columns
 * and the declared indexes, and a view under the logical name for the active version.
 * Booleans are 0/1, timestamps epoch milliseconds (exact for a JS `Date`, and they sort),
 * JSON is text: raw SQL sees natural types.
 */

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
    if (!Object.hasOwn(SQL_TYPES, type))
      issues.push({ path: ['columns', column], message: `unknown column type "${type}"` });
  }
  if (!Object.hasOwn(definition.columns, definition.primaryKey))
    issues.push({ path: ['primaryKey'], message: 'must be one of the columns' });
  for (const [i, index] of definition.indexes.entries())
    for (const column of index)
      if (!Object.hasOwn(definition.columns, column))
        issues.push({ path: ['indexes', i], message: `unknown column "${column}"` });
  if (issues.length > 0) throw new ValidationError(`Invalid table "${definition.name}"`, issues);
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
