import type { Pool, PoolClient } from 'pg';
import { ValidationError } from '../../core/errors.js';
import { MIGRATIONS, POSITION_BITS } from './postgres-sql.js';

/**
 * Everything derived from the schema name: the quoted identifier, the advisory lock keys and
 * the notification channel. Several stores may share one database in different schemas;
 * their keys differ, so their writers and readers never wait on each other.
 */
export interface SchemaIdentity {
  readonly schema: string;
  /** The schema as a quoted SQL identifier. */
  readonly quoted: string;
  /**
   * Lock K, which serializes position allocation. It is also the base of the schema's
   * in-flight keys: `allocationLock + first position` (positions start at 1, so K itself
   * never collides with one).
   */
  readonly allocationLock: bigint;
  /** The two int4 keys of the migration lock (a key space apart from the bigint keys). */
  readonly migrationLock: readonly [number, number];
  readonly channel: string;
  /** Prefix of prepared statement names, unique per schema. */
  readonly statementPrefix: string;
}

export const DEFAULT_SCHEMA = 'public';

// Plain identifiers only: the name is spliced into DDL, function bodies and a channel name.
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const CHANNEL_SUFFIX = '_causeway_events';
/** "CWmg" in ASCII: the first int4 key of every Causeway migration lock. */
const MIGRATION_LOCK_CLASS = 0x43576d67;
/** Tags are 20 bits so `tag << 43` stays a positive bigint. */
const TAG_BITS = 20n;

const identities = new Map<string, SchemaIdentity>();

export function schemaIdentity(schema: string = DEFAULT_SCHEMA): SchemaIdentity {
  const cached = identities.get(schema);
  if (cached) return cached;
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new ValidationError('Invalid PostgreSQL options', [
      {
        path: ['schema'],
        message: `must be 1-63 letters, digits or underscores, not starting with a digit; got ${JSON.stringify(schema)}`,
      },
    ]);
  }
  const hash = fnv1a64(`causeway:${schema}`);
  const tag = (hash % ((1n << TAG_BITS) - 1n)) + 1n;
  // A channel name is at most 63 bytes; long schema names fall back to their hash.
  const channel =
    schema.length + CHANNEL_SUFFIX.length <= 63
      ? `${schema}${CHANNEL_SUFFIX}`
      : `cw_${hash.toString(16)}${CHANNEL_SUFFIX}`;
  const identity: SchemaIdentity = {
    schema,
    quoted: `"${schema}"`,
    allocationLock: tag << POSITION_BITS,
    migrationLock: [MIGRATION_LOCK_CLASS, Number(BigInt.asIntN(32, hash))],
    channel,
    statementPrefix: `cw_${hash.toString(16)}_`,
  };
  identities.set(schema, identity);
  return identity;
}

/** 64-bit FNV-1a: stable across processes and versions, unlike PostgreSQL's `hashtext`. */
function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

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
    throw new Error(
      `Causeway's tables in PostgreSQL schema "${identity.schema}" are at version ${version}, ` +
        `this code needs ${POSTGRES_SCHEMA_VERSION}: run migratePostgresSchema() or open the store with migrate: true.`,
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
