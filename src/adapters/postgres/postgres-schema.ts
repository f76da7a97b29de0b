import type { Pool, PoolClient } from 'pg';
import { StoreNotInitializedError } from '../../core/errors.js';
import { schemaIdentity, type SchemaIdentity } from './postgres-identity.js';
import { MIGRATIONS } from './postgres-sql.js';

/** The newest schema version this code knows. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/**
 * Brings the schema up to date. Idempotent; concurrent callers (several processes starting
 * at once) serialize on an advisory lock and the later ones find nothing to do. Each run of
 * pending migrations is one transaction, so a failure leaves the previous version intact.
 */
export async function migratePostgresSchema(pool: Pool, schema?: string): Promise<void> {
  const identity = schemaIdentity(schema);
  if ((await appliedVersion(pool, identity)) >= POSTGRES_SCHEMA_VERSION) return;
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::int4, $2::int4)', [
      ...identity.migrationLock,
    ]);
    // CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
    const { rows } = await client.query<{ exists: boolean }>(
      'SELECT to_regnamespace($1) IS NOT NULL AS exists',
      [identity.quoted],
    );
    if (!rows[0]?.exists) await client.query(`CREATE SCHEMA ${identity.quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${identity.quoted}.causeway_schema_migrations (
         version int PRIMARY KEY,
         description text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const current = await appliedVersion(client, identity);
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      await client.query(migration.sql(identity));
      await client.query(
        `INSERT INTO ${identity.quoted}.causeway_schema_migrations (version, description)
         VALUES ($1, $2)`,
        [migration.version, migration.description],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    failed = true;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    // A connection that failed mid-migration is discarded rather than reused.
    client.release(failed);
  }
}

/**
 * For stores opened with `migrate: false`: fails with a clear message unless a deploy step
 * (or another process) already brought the schema to the version this code needs.
 */
export async function assertPostgresSchema(pool: Pool, schema?: string): Promise<void> {
  const identity = schemaIdentity(schema);
  const version = await appliedVersion(pool, identity);
  if (version < POSTGRES_SCHEMA_VERSION) {
    throw new StoreNotInitializedError(
      `PostgreSQL schema "${identity.schema}"`,
      version,
      POSTGRES_SCHEMA_VERSION,
    );
  }
}

async function appliedVersion(db: Pool | PoolClient, identity: SchemaIdentity): Promise<number> {
  const table = `${identity.quoted}.causeway_schema_migrations`;
  const { rows } = await db.query<{ exists: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS exists',
    [table],
  );
  if (!rows[0]?.exists) return 0;
  const result = await db.query<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${table}`,
  );
  return result.rows[0]?.version ?? 0;
}
