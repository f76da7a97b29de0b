import { createHash } from 'node:crypto';
import type { ClientBase } from 'pg';
import { ValidationError } from '../../core/errors.js';
import type { ColumnType, TableDefinition } from '../../projections/read-model.js';
import type { SchemaIdentity } from './postgres-identity.js';

/**
 * The DDL of read-model tables: one physical table per projection version with typed
 * columns, its primary key and the declared indexes, and a view under the logical name that
 * points at the active version. All of it lives in the event store's schema. Everything here
 * runs inside the caller's transaction on `client`, so a switch of views is atomic.
 */

/** Natural PostgreSQL types: raw SQL on the views sees bigint, jsonb, timestamptz… */
export const SQL_TYPES: Record<ColumnType, string> = {
  text: 'text',
  integer: 'bigint',
  real: 'double precision',
  boolean: 'boolean',
  json: 'jsonb',
  timestamp: 'timestamp with time zone',
};

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/;
const RESERVED = /^(causeway_|pg_)/;
/** PostgreSQL silently truncates longer identifiers, which would make two names collide. */
const MAX_IDENTIFIER_BYTES = 63;

/** Identifiers are validated and quoted; they never come from event data. */
export function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

export function qualified(identity: SchemaIdentity, relation: string): string {
  return `${identity.quoted}.${quote(relation)}`;
}

/** Names go into SQL text, so they are checked here too, not only by `defineTable`. */
export function assertValidTable(definition: TableDefinition, physical?: string): void {
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (!IDENTIFIER.test(definition.name) || RESERVED.test(definition.name))
    issues.push({
      path: ['name'],
      message: 'must match /^[a-z_][a-z0-9_]{0,47}$/ and not start with causeway_ or pg_',
    });
  if (physical !== undefined && physical.length > MAX_IDENTIFIER_BYTES)
    issues.push({ path: ['name'], message: `"${physical}" is longer than 63 characters` });
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

/** `<table>__<columns>`, or a hashed form when that would exceed PostgreSQL's 63 bytes. */
export function indexName(physical: string, columns: readonly string[]): string {
  const name = `${physical}__${columns.join('__')}`;
  if (name.length <= MAX_IDENTIFIER_BYTES) return name;
  const hash = createHash('sha1').update(name).digest('hex').slice(0, 12);
  return `${physical.slice(0, MAX_IDENTIFIER_BYTES - 14)}__${hash}`;
}

type ColumnRecord = { name: string; type: string; pk: boolean };

/**
 * Creates the version's table and any missing declared index, or checks that the existing
 * table has the definition's shape. Existing indexes are looked up rather than created
 * `IF NOT EXISTS`, which would take a lock that waits for every running batch on the table.
 */
export async function ensureTable(
  client: ClientBase,
  identity: SchemaIdentity,
  definition: TableDefinition,
  physical: string,
): Promise<void> {
  const relation = qualified(identity, physical);
  const { rows: actual } = await client.query<ColumnRecord>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid
                      AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS pk
       FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [relation],
  );
  if (actual.length === 0) {
    const columns = Object.entries(definition.columns).map(
      // "C": text sorts by code point, as in SQLite and the memory store, whatever the locale.
      ([column, type]) =>
        `${quote(column)} ${SQL_TYPES[type]}${type === 'text' ? ' COLLATE "C"' : ''}`,
    );
    await client.query(
      `CREATE TABLE ${relation} (${columns.join(', ')}, PRIMARY KEY (${quote(definition.primaryKey)}))`,
    );
  } else {
    assertShape(definition, physical, actual);
  }
  const { rows: existing } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = to_regclass($1)`,
    [relation],
  );
  const have = new Set(existing.map((r) => r.name));
  for (const index of definition.indexes) {
    const name = indexName(physical, index);
    if (!have.has(name))
      await client.query(
        `CREATE INDEX ${quote(name)} ON ${relation} (${index.map(quote).join(', ')})`,
      );
  }
}

/**
 * Fails when an existing table was created from a different definition: changing a table's
 * shape needs a new projection version, which builds new tables beside the old ones.
 */
function assertShape(
  definition: TableDefinition,
  physical: string,
  actual: readonly ColumnRecord[],
): void {
  const have = actual.map((c) => `${c.name} ${c.type}${c.pk ? ' pk' : ''}`);
  const want = Object.entries(definition.columns).map(
    ([column, type]) =>
      `${column} ${SQL_TYPES[type]}${column === definition.primaryKey ? ' pk' : ''}`,
  );
  if (have.join(', ') !== want.join(', '))
    throw new ValidationError('Table definition changed', [
      {
        path: ['tables', definition.name],
        message: `${physical} exists with (${have.join(', ')}) but the definition says (${want.join(', ')}); bump the projection version to build new tables`,
      },
    ]);
}

/** What the logical name currently is: nothing, a view on some table, or something else. */
export type NameUse = { kind: 'missing' } | { kind: 'view'; target: string | undefined };

export async function nameUse(
  client: ClientBase,
  identity: SchemaIdentity,
  definition: TableDefinition,
): Promise<NameUse> {
  const { rows } = await client.query<{ kind: string; target: string | null }>(
    `SELECT c.relkind::text AS kind,
            (SELECT t.relname FROM pg_catalog.pg_rewrite r
               JOIN pg_catalog.pg_depend d
                 ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
               JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
              WHERE r.ev_class = c.oid AND t.oid <> c.oid AND t.relkind IN ('r', 'p')
              LIMIT 1) AS target
       FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)`,
    [qualified(identity, definition.name)],
  );
  const row = rows[0];
  if (!row) return { kind: 'missing' };
  if (row.kind !== 'v')
    throw new ValidationError('Name already taken', [
      {
        path: ['tables', definition.name],
        message: `"${identity.schema}"."${definition.name}" exists and is not a Causeway view; rename the table`,
      },
    ]);
  return { kind: 'view', target: row.target ?? undefined };
}

/**
 * Points the view `<table>` at `physical`. `CREATE OR REPLACE VIEW` cannot change columns, so
 * it is dropped and created again: in the caller's transaction, so queries see either the
 * old version or the new one, never neither.
 */
export async function pointView(
  client: ClientBase,
  identity: SchemaIdentity,
  definition: TableDefinition,
  physical: string,
): Promise<void> {
  const use = await nameUse(client, identity, definition);
  if (use.kind === 'view' && use.target === physical) return;
  const view = qualified(identity, definition.name);
  await client.query(
    `DROP VIEW IF EXISTS ${view}; CREATE VIEW ${view} AS SELECT * FROM ${qualified(identity, physical)}`,
  );
}

/** Drops a version's table, and first the view if it points there (no CASCADE into users' views). */
export async function dropTable(
  client: ClientBase,
  identity: SchemaIdentity,
  definition: TableDefinition,
  physical: string,
): Promise<void> {
  const use = await nameUse(client, identity, definition);
  if (use.kind === 'view' && use.target === physical)
    await client.query(`DROP VIEW ${qualified(identity, definition.name)}`);
  await client.query(`DROP TABLE IF EXISTS ${qualified(identity, physical)}`);
}
