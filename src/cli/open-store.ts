import { existsSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { Pool } from 'pg';
import { resolve } from 'node:path';
import {
  isCausewayError,
  isStoreNotInitializedError,
  StoreUnavailableError,
} from '../core/errors.js';
import type { EventStore } from '../event-store/event-store.js';
import type { ProjectionStore } from '../projections/projection.js';
import { CliError, ExitCode } from './errors.js';

export const DEFAULT_DB = './causeway.db';

export type DbTarget =
  | { kind: 'sqlite'; filename: string; address: string }
  | { kind: 'postgres'; connectionString: string; address: string; schema?: string };

/**
 * `postgres://` and `postgresql://` URLs go to PostgreSQL; anything else is a SQLite file.
 * `schema` (PostgreSQL only) names the schema holding Causeway's tables.
 */
export function parseDbTarget(value: string, schema?: string): DbTarget {
  if (/^postgres(ql)?:\/\//i.test(value)) {
    return {
      kind: 'postgres',
      connectionString: value,
      address: postgresAddress(value),
      ...(schema === undefined ? {} : { schema }),
    };
  }
  if (schema !== undefined) {
    throw new CliError(
      '--schema only applies to PostgreSQL',
      'a SQLite file has no schemas: drop --schema, or pass a postgres:// URL to --db',
      ExitCode.UsageError,
    );
  }
  const filename = resolve(value);
  return { kind: 'sqlite', filename, address: filename };
}

/** host:port/database, never the user or password: it ends up in error messages. */
function postgresAddress(connectionString: string): string {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw new CliError(
      `--db: "${redact(connectionString)}" is not a valid PostgreSQL URL`,
      'expected postgres://user:password@host:port/database',
      ExitCode.UsageError,
    );
  }
  const host = url.hostname === '' ? 'localhost' : url.hostname;
  return `${host}:${url.port === '' ? '5432' : url.port}${url.pathname === '/' ? '' : url.pathname}`;
}

function redact(connectionString: string): string {
  return connectionString.replace(/\/\/[^@/]*@/, '//***@');
}

/** An open store, and how to let go of everything opened for it. */
export interface OpenedStore {
  store: EventStore;
  /**
   * The projection store in the same database, opened on the first call: only the
   * `projections` commands pay for it. `close` closes it too.
   */
  projections(): Promise<ProjectionStore>;
  close(): Promise<void>;
}

/** Adds the lazily opened projection store to an event store, closing both in order. */
function withProjections(
  store: EventStore,
  closeStore: () => Promise<void>,
  openProjections: () => Promise<ProjectionStore>,
  target: DbTarget,
): OpenedStore {
  let opening: Promise<ProjectionStore> | undefined;
  return {
    store,
    projections: () =>
      (opening ??= openProjections().catch((error: unknown) => {
        throw asUnavailable(error, target);
      })),
    close: async () => {
      try {
        const projections = await opening?.catch(() => undefined);
        await projections?.close?.();
      } finally {
        await closeStore();
      }
    },
  };
}

/**
 * A mistyped host should fail in seconds; without a limit `pg` waits for the operating
 * system's TCP timeout, which can be minutes.
 */
const PG_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens the store behind `target` for reading. Adapters are imported lazily so a SQLite
 * user never loads `pg` (and the reverse). The store is pinged once, so an unreachable
 * database fails here with its address rather than halfway through a command.
 */
export async function openStore(target: DbTarget): Promise<OpenedStore> {
  const opened = target.kind === 'sqlite' ? await openSqlite(target) : await openPostgres(target);
  try {
    await opened.store.headPosition();
  } catch (error) {
    await opened.close().catch(() => undefined);
    throw asUnavailable(error, target);
  }
  return opened;
}

function hasCausewayTables(Database: typeof BetterSqlite3, filename: string): boolean {
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new Database(filename, { readonly: true, fileMustExist: true });
    return (
      db
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'causeway_events'")
        .get() !== undefined
    );
  } catch {
    // Not a database at all: let the adapter report it with its own error.
    return true;
  } finally {
    db?.close();
  }
}

async function openSqlite(target: DbTarget & { kind: 'sqlite' }): Promise<OpenedStore> {
  if (!existsSync(target.filename)) {
    // Opening a missing file would create an empty database: a read must not do that.
    throw new CliError(
      `database file ${target.filename} does not exist`,
      'run `npm run quickstart` to create a demo database, or pass --db <sqlite-file | postgres-url>',
    );
  }
  // Loading the adapter is not a connection problem: those errors pass through unwrapped.
  const { createSqliteEventStore, createSqliteProjectionStore } = await importAdapter(
    () => import('../adapters/sqlite/index.js'),
    'better-sqlite3',
  );
  const { default: Database } = await importAdapter(
    () => import('better-sqlite3'),
    'better-sqlite3',
  );
  // Opening the store migrates it; a read must not turn someone else's database into ours.
  if (!hasCausewayTables(Database, target.filename)) {
    throw new CliError(
      `no Causeway event store in ${target.filename} (its tables are missing)`,
      'check the path in --db; an application creates the tables when it first opens the store',
    );
  }
  try {
    const store = createSqliteEventStore({ filename: target.filename });
    return withProjections(
      store,
      () => store.close(),
      async () => createSqliteProjectionStore({ filename: target.filename }),
      target,
    );
  } catch (error) {
    throw asUnavailable(error, target);
  }
}

async function openPostgres(target: DbTarget & { kind: 'postgres' }): Promise<OpenedStore> {
  const [{ createPostgresEventStore, createPostgresProjectionStore }, { default: pg }] =
    await Promise.all([
      importAdapter(() => import('../adapters/postgres/index.js'), 'pg'),
      importAdapter(() => import('pg'), 'pg'),
    ]);
  // Our own pool, for the connect timeout; the store never ends a pool it was given.
  const pool = new pg.Pool({
    connectionString: target.connectionString,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    // A rebuild holds one connection for its open batch while progress reads the head.
    max: 4,
  });
  // An idle connection that breaks emits 'error' on the pool; unhandled, it would crash us.
  pool.on('error', () => undefined);
  try {
    // A read-only tool must not create tables in someone's database: no migration.
    const schema = target.schema === undefined ? {} : { schema: target.schema };
    const store = await createPostgresEventStore({ pool, migrate: false, ...schema });
    return withProjections(
      store,
      async () => {
        try {
          await store.close();
        } finally {
          await pool.end();
        }
      },
      () => createPostgresProjectionStore({ pool, migrate: false, ...schema }),
      target,
    );
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (isStoreNotInitializedError(error)) {
      const schemaName = target.schema ?? 'public';
      throw error.foundVersion === 0
        ? new CliError(
            `no Causeway event store in ${target.address}, schema "${schemaName}" (its tables are missing)`,
            'check the database name in --db and the schema in --schema; an application creates the tables when it first opens the store',
            ExitCode.RuntimeError,
            { cause: error },
          )
        : new CliError(
            `the Causeway tables in ${target.address}, schema "${schemaName}", are at version ${error.foundVersion}; this CLI needs ${error.neededVersion}`,
            'upgrade them first: an application opening the store with migrate: true (the default) does it',
            ExitCode.RuntimeError,
            { cause: error },
          );
    }
    if (isMissingSchema(error)) {
      throw new CliError(
        `no Causeway event store in ${target.address} (its tables are missing)`,
        'check the database name in --db; an application creates the tables when it first opens the store',
        ExitCode.RuntimeError,
        { cause: error },
      );
    }
    throw asUnavailable(error, target);
  }
}

/**
 * A pool on `target` once Causeway's `table` is known to exist in its schema (nothing is
 * created). A missing table throws `missing(schema)`; an unreachable server is a
 * `StoreUnavailableError` naming it. The caller ends the pool.
 */
export async function openPostgresTable(
  target: DbTarget & { kind: 'postgres' },
  table: string,
  missing: (schema: string) => CliError,
): Promise<{ pool: Pool; schema: string }> {
  const { default: pg } = await importAdapter(() => import('pg'), 'pg');
  const pool = new pg.Pool({
    connectionString: target.connectionString,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    max: 2,
  });
  // An idle connection that breaks emits 'error' on the pool; unhandled, it would crash us.
  pool.on('error', () => undefined);
  const schema = target.schema ?? 'public';
  try {
    const { rows } = await pool.query<{ found: string | null }>(
      'SELECT to_regclass(format($1::text, $2::text)) AS found',
      [`%I.${table}`, schema],
    );
    if (rows[0]?.found == null) throw missing(schema);
    return { pool, schema };
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof CliError) throw error;
    throw new StoreUnavailableError(target.address, { cause: error });
  }
}

/** PostgreSQL's "undefined function / table / schema" SQLSTATEs: reachable, but not ours. */
function isMissingSchema(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '42883' || code === '42P01' || code === '3F000';
}

/** The drivers are optional peer dependencies: say which one to install. */
export async function importAdapter<T>(load: () => Promise<T>, driver: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissingPackage(error, driver)) {
      throw new CliError(
        `the ${driver} package is not installed`,
        `npm install ${driver}`,
        ExitCode.RuntimeError,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

function isMissingPackage(error: unknown, name: string): boolean {
  return (
    error instanceof Error &&
    (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' &&
    error.message.includes(`'${name}'`)
  );
}

function asUnavailable(error: unknown, target: DbTarget): unknown {
  if (error instanceof CliError || isCausewayError(error)) return error;
  return new StoreUnavailableError(target.address, { cause: error });
}
