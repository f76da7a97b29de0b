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

/**
 * Opens the store behind `target` for reading. Adapters are imported lazily so a SQLite
 * user never loads `pg` (and the reverse). The store is pinged once, so an unreachable
 * database fails here with its address rather than halfway through a command.
 */
export async function openStore(target: DbTarget): Promise<EventStore> {
  if (target.kind === 'sqlite' && !existsSync(target.filename)) {
    // Opening a missing file would create an empty database: a read must not do that.
    throw new CliError(
      `database file ${target.filename} does not exist`,
      'run `npm start` to create a demo database, or pass --db <sqlite-file | postgres-url>',
    );
  }
  const store = await createStore(target);
  try {
    await store.headPosition();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw asUnavailable(error, target);
  }
  return store;
}

// TODO(postgres adapter): import '../adapters/postgres/index.js' statically typed once it
// lands; until then a typed specifier variable keeps the build green without it.
const POSTGRES_ADAPTER: string = '../adapters/postgres/index.js';
interface PostgresAdapter {
  createPostgresEventStore(options: { connectionString: string }): EventStore | Promise<EventStore>;
}

async function createStore(target: DbTarget): Promise<EventStore> {
  // Loading the adapter is not a connection problem: let those errors through unwrapped.
  const create =
    target.kind === 'sqlite'
      ? await sqliteFactory(target.filename)
      : await postgresFactory(target.connectionString);
  try {
    return await create();
  } catch (error) {
    throw asUnavailable(error, target);
  }
}

async function sqliteFactory(filename: string): Promise<() => EventStore | Promise<EventStore>> {
  const { createSqliteEventStore } = await importAdapter(
    () => import('../adapters/sqlite/index.js'),
    'better-sqlite3',
  );
  return () => createSqliteEventStore({ filename });
}

async function postgresFactory(
  connectionString: string,
): Promise<() => EventStore | Promise<EventStore>> {
  const { createPostgresEventStore } = await importAdapter(
    () => import(POSTGRES_ADAPTER) as Promise<PostgresAdapter>,
    'pg',
  );
  return () => createPostgresEventStore({ connectionString });
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
