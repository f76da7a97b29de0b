import { existsSync } from 'node:fs';
import { StoreUnavailableError } from '../core/errors.js';
import type { SagaStore } from '../sagas/saga-store.js';
import { CliError } from './errors.js';
import { importAdapter, openPostgresTable, type DbTarget } from './open-store.js';

/** An open saga store, and how to let go of everything opened for it. */
export interface OpenedSagas {
  store: SagaStore;
  close(): Promise<void>;
}

const NO_TABLE_HINT =
  'check --db; an application creates the table when it first opens its saga store (SqliteSagaStore, createPostgresSagaStore)';

/**
 * Opens the saga instances behind `target`, importing only the adapter it needs. A file,
 * schema or table that is not there is reported, never created.
 */
export async function openSagaStore(target: DbTarget): Promise<OpenedSagas> {
  return target.kind === 'sqlite' ? openSqlite(target) : openPostgres(target);
}

async function openSqlite(target: DbTarget & { kind: 'sqlite' }): Promise<OpenedSagas> {
  if (!existsSync(target.filename)) {
    throw new CliError(
      `database file ${target.filename} does not exist`,
      'pass --db <sqlite-file | postgres-url>: the database your saga runtime uses',
    );
  }
  const [{ openSqliteDatabase, SqliteSagaStore }, { default: Database }] = await Promise.all([
    importAdapter(() => import('../adapters/sqlite/index.js'), 'better-sqlite3'),
    importAdapter(() => import('better-sqlite3'), 'better-sqlite3'),
  ]);
  // Looked at read-only first: opening the store would migrate someone else's file.
  let found = false;
  try {
    const probe = new Database(target.filename, { readonly: true, fileMustExist: true });
    try {
      found =
        probe
          .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'causeway_sagas'")
          .get() !== undefined;
    } finally {
      probe.close();
    }
  } catch (cause) {
    throw new StoreUnavailableError(target.address, { cause });
  }
  if (!found)
    throw new CliError(
      `no saga instances in ${target.filename} (its causeway_sagas table is missing)`,
      NO_TABLE_HINT,
    );
  const db = openSqliteDatabase(target.filename);
  return { store: new SqliteSagaStore(db), close: async () => void db.close() };
}

async function openPostgres(target: DbTarget & { kind: 'postgres' }): Promise<OpenedSagas> {
  const { PostgresSagaStore } = await importAdapter(
    () => import('../adapters/postgres/index.js'),
    'pg',
  );
  const { pool, schema } = await openPostgresTable(
    target,
    'causeway_sagas',
    (schema) =>
      new CliError(
        `no saga instances in ${target.address}, schema "${schema}" (its causeway_sagas table is missing)`,
        `${NO_TABLE_HINT}; --schema names the schema`,
      ),
  );
  // The store never ends a pool it was given: `close` does.
  const store = new PostgresSagaStore({ pool, schema });
  return { store, close: () => pool.end() };
}
