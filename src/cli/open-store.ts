import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isCausewayError, StoreUnavailableError } from '../core/errors.js';
import type { EventStore } from '../event-store/event-store.js';
import { CliError, ExitCode } from './errors.js';

export const DEFAULT_DB = './causeway.db';

export type DbTarget =
  | { kind: 'sqlite'; filename: string; address: string }
  | { kind: 'postgres'; connectionString: string; address: string };

/** `postgres://` and `postgresql://` URLs go to PostgreSQL; anything else is a SQLite file. */
export function parseDbTarget(value: string): DbTarget {
  if (/^postgres(ql)?:\/\//i.test(value)) {
    return { kind: 'postgres', connectionString: value, address: postgresAddress(value) };
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
  close(): Promise<void>;
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

async function openSqlite(target: DbTarget & { kind: 'sqlite' }): Promise<OpenedStore> {
  if (!existsSync(target.filename)) {
    // Opening a missing file would create an empty database: a read must not do that.
    throw new CliError(
      `database file ${target.filename} does not exist`,
      'run `npm start` to create a demo database, or pass --db <sqlite-file | postgres-url>',
    );
  }
  // Loading the adapter is not a connection problem: those errors pass through unwrapped.
  const { createSqliteEventStore } = await importAdapter(
    () => import('../adapters/sqlite/index.js'),
    'better-sqlite3',
  );
  try {
    const store = createSqliteEventStore({ filename: target.filename });
    return { store, close: () => store.close() };
  } catch (error) {
    throw asUnavailable(error, target);
  }
}

async function openPostgres(target: DbTarget & { kind: 'postgres' }): Promise<OpenedStore> {
  const [{ createPostgresEventStore }, { default: pg }] = await Promise.all([
    importAdapter(() => import('../adapters/postgres/index.js'), 'pg'),
    importAdapter(() => import('pg'), 'pg'),
  ]);
  // Our own pool, for the connect timeout; the store never ends a pool it was given.
  const pool = new pg.Pool({
    connectionString: target.connectionString,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    max: 2,
  });
  // An idle connection that breaks emits 'error' on the pool; unhandled, it would crash us.
  pool.on('error', () => undefined);
  try {
    // A read-only tool must not create tables in someone's database: no migration.
    const store = await createPostgresEventStore({ pool, migrate: false });
    return {
      store,
      close: async () => {
        try {
          await store.close();
        } finally {
          await pool.end();
        }
      },
    };
  } catch (error) {
    await pool.end().catch(() => undefined);
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

/** PostgreSQL's "undefined function / table / schema" SQLSTATEs: reachable, but not ours. */
function isMissingSchema(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '42883' || code === '42P01' || code === '3F000';
}

/** The drivers are optional peer dependencies: say which one to install. */
async function importAdapter<T>(load: () => Promise<T>, driver: string): Promise<T> {
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
