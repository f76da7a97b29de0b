import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { isCausewayError, StoreUnavailableError } from '../../core/errors.js';
import { MIGRATIONS } from './sqlite-migrations.js';

export type SqliteDatabase = Database.Database;

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/**
 * Brings the file up to `SCHEMA_VERSION`. Safe to call on every open and from several
 * processes at once: the version is read and bumped inside one `BEGIN IMMEDIATE`, so exactly
 * one connection runs each step. The version lives in our own table, not `PRAGMA
 * user_version`, because the application's read models share the file and may use that.
 */
export function migrate(db: SqliteDatabase): void {
  db.exec('CREATE TABLE IF NOT EXISTS causeway_schema (version INTEGER NOT NULL)');
  const current = () =>
    (db.prepare('SELECT max(version) AS v FROM causeway_schema').get() as { v: number | null }).v ??
    0;
  // Fast path without taking the write lock: most opens find the schema current.
  if (current() >= SCHEMA_VERSION) return;
  db.transaction(() => {
    const from = current();
    for (const step of MIGRATIONS) {
      if (step.version <= from) continue;
      db.exec(step.sql);
      db.prepare('INSERT INTO causeway_schema (version) VALUES (?)').run(step.version);
    }
  }).immediate();
}

/**
 * The connection settings every store's guarantees rest on. WAL lets readers run beside the
 * single writer; `synchronous=FULL` makes a returned append survive power loss; the busy
 * timeout makes a second process wait for the write lock instead of failing at once.
 */
export function applyPragmas(db: SqliteDatabase): void {
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
}

/** What error messages name: the absolute file path, so a wrong working directory shows. */
export function addressOf(filename: string): string {
  return filename === '' || filename === ':memory:' ? ':memory:' : resolve(filename);
}

/**
 * Opens (creating if needed) a Causeway SQLite file with the right pragmas and schema. Use it
 * to share one connection between the event store, snapshots and your own read-model tables.
 * Any failure to open, create or migrate the file is a `StoreUnavailableError` naming it.
 */
export function openSqliteDatabase(filename = './causeway.db'): SqliteDatabase {
  let db: SqliteDatabase;
  try {
    db = new Database(filename);
  } catch (cause) {
    throw new StoreUnavailableError(addressOf(filename), { cause });
  }
  try {
    prepareDatabase(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** Schema only, for stores handed a connection that is already set up (and maybe mid-transaction). */
export function ensureSchema(db: SqliteDatabase): void {
  try {
    migrate(db);
  } catch (cause) {
    throw new StoreUnavailableError(addressOf(db.name), { cause });
  }
}

/** Pragmas and schema for a connection someone else opened; errors name the file. */
export function prepareDatabase(db: SqliteDatabase): void {
  try {
    applyPragmas(db);
    migrate(db);
  } catch (cause) {
    throw new StoreUnavailableError(addressOf(db.name), { cause });
  }
}

/**
 * SQLite result codes that mean "the file cannot be used right now" rather than a bug in
 * a statement: callers may retry or alert, so they get `StoreUnavailableError`.
 */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|READONLY|FULL|NOTADB|CORRUPT|PERM|AUTH)/;

/** Translates a driver error into the kernel's typed errors where one fits. */
export function toStoreError(error: unknown, address: string): unknown {
  if (isCausewayError(error)) return error;
  if (sqliteCode(error)?.match(UNAVAILABLE))
    return new StoreUnavailableError(address, { cause: error });
  return error;
}

/** The `SQLITE_*` code of a better-sqlite3 error, read structurally so no class import is needed. */
export function sqliteCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}
