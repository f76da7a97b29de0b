import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresPool } from '../../src/demo/brokers.js';
import { ForeignSchemaError, resetSchema } from '../../src/demo/distributed.js';
import type { DemoSql } from '../../src/demo/sql.js';
import { dropSchema, PG_URL, uniqueSchema } from './demo-harness.js';

/** The distributed demo drops and recreates its schema: only ever one it made itself. */
describe('distributed demo: which schema it may drop', () => {
  const fresh = uniqueSchema('demo_schema');
  const lookalike = uniqueSchema('demo_schema');
  let sql: DemoSql;
  let admin: pg.Client;
  const tables = async (schema: string) =>
    (
      await admin.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
        [schema],
      )
    ).rows.map((r) => r.table_name);

  beforeAll(async () => {
    ({ sql } = await openPostgresPool({ url: PG_URL, schema: fresh }, 2));
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await admin.end();
    await sql.close();
    await dropSchema(fresh);
    await dropSchema(lookalike);
  });

  it('creates a missing schema with its marker, and drops and recreates it on the next run', async () => {
    await resetSchema(sql, fresh);
    expect(await tables(fresh)).toEqual(['demo_marker']);
    await admin.query(`CREATE TABLE "${fresh}".demo_stock (sku TEXT)`);
    await resetSchema(sql, fresh);
    expect(await tables(fresh)).toEqual(['demo_marker']);
  });

  it('refuses public and a schema of demo-looking tables without the marker, dropping nothing', async () => {
    await expect(resetSchema(sql, 'public')).rejects.toBeInstanceOf(ForeignSchemaError);
    // Only causeway_* and demo_* tables: the old rule would have dropped it.
    await admin.query(`CREATE SCHEMA "${lookalike}"`);
    await admin.query(`CREATE TABLE "${lookalike}".causeway_events (id BIGINT)`);
    await admin.query(`CREATE TABLE "${lookalike}".demo_orders (id BIGINT)`);
    await expect(resetSchema(sql, lookalike)).rejects.toThrow(
      `Schema ${lookalike} exists and was not created by the demo (it has no demo_marker table)`,
    );
    expect(await tables(lookalike)).toEqual(['causeway_events', 'demo_orders']);
  });
});
