import type { SqlValue, TableSinkSpec, TableWrite } from '../../streams/state-repository.js';

/** A statement and its values, with placeholders in the dialect's style. */
export interface SqlStatement {
  text: string;
  values: SqlValue[];
}

/** `"schema"."table"` from a validated plain name (see `validateTableSink`). */
export function quoteName(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}

/**
 * The upsert or delete one table-sink output becomes, the same SQL on SQLite and PostgreSQL
 * (`INSERT … ON CONFLICT (key) DO UPDATE`): only the placeholders differ.
 */
export function tableWriteSql(
  spec: TableSinkSpec,
  write: TableWrite,
  placeholder: (index: number) => string,
): SqlStatement {
  const table = quoteName(spec.table);
  if (write.kind === 'delete') {
    const where = spec.key.map((column, i) => `${quoteName(column)} = ${placeholder(i + 1)}`);
    return {
      text: `DELETE FROM ${table} WHERE ${where.join(' AND ')}`,
      values: spec.key.map((column) => write.key[column] as SqlValue),
    };
  }
  const columns = Object.keys(write.row);
  const updates = columns
    .filter((column) => !spec.key.includes(column))
    .map((column) => `${quoteName(column)} = excluded.${quoteName(column)}`);
  return {
    text:
      `INSERT INTO ${table} (${columns.map(quoteName).join(', ')}) ` +
      `VALUES (${columns.map((_, i) => placeholder(i + 1)).join(', ')}) ` +
      `ON CONFLICT (${spec.key.map(quoteName).join(', ')}) ` +
      (updates.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${updates.join(', ')}`),
    values: columns.map((column) => write.row[column] as SqlValue),
  };
}
