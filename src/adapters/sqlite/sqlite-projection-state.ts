import type { Statement } from 'better-sqlite3';
import type { ProjectionState, ProjectionStatus } from '../../projections/projection.js';
import type { SqliteDatabase } from './sqlite-schema.js';

/** The `causeway_projections` table: one row per projection version (see migration 2). */

export interface StateRow {
  name: string;
  version: number;
  status: ProjectionStatus;
  paused: number;
  position: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  error: string | null;
  updatedAt: number;
}

export type Key = { name: string; version: number };

type Run<P> = Statement<[Key & P]>;

/** Spelled out (not inferred) so the emitted declarations can name better-sqlite3's types. */
export interface WriterStatements {
  state: Statement<[Key], StateRow>;
  insert: Run<{ now: number }>;
  acquire: Run<{ owner: string; now: number; expires: number }>;
  release: Run<{ owner: string }>;
  advance: Run<{ position: number; now: number }>;
  setPaused: Run<{ value: unknown; now: number }>;
  setError: Run<{ value: unknown; now: number }>;
  activate: Run<{ now: number }>;
  remove: Statement<[Key]>;
  viewSql: Statement<[string], string>;
}

export interface ReaderStatements {
  state: Statement<[Key], StateRow>;
  list: Statement<[], StateRow>;
}

const STATE_COLUMNS = `name, version, status, paused, position, lease_owner AS leaseOwner,
  lease_expires_at AS leaseExpiresAt, error, updated_at AS updatedAt`;

export function writerStatements(db: SqliteDatabase): WriterStatements {
  const where = 'WHERE name = @name AND version = @version';
  return {
    state: db.prepare<[Key], StateRow>(
      `SELECT ${STATE_COLUMNS} FROM causeway_projections ${where}`,
    ),
    // The first version of a projection ever prepared starts active; later ones build first.
    insert: db.prepare<[Key & { now: number }]>(
      `INSERT INTO causeway_projections (name, version, status, updated_at)
       VALUES (@name, @version, CASE WHEN EXISTS (SELECT 1 FROM causeway_projections
         WHERE name = @name) THEN 'building' ELSE 'active' END, @now)
       ON CONFLICT (name, version) DO NOTHING`,
    ),
    acquire: db.prepare<[Key & { owner: string; now: number; expires: number }]>(
      `UPDATE causeway_projections SET lease_owner = @owner, lease_expires_at = @expires
       ${where} AND (lease_owner IS NULL OR lease_expires_at IS NULL
         OR lease_expires_at <= @now OR lease_owner = @owner)`,
    ),
    release: db.prepare<[Key & { owner: string }]>(
      `UPDATE causeway_projections SET lease_owner = NULL, lease_expires_at = NULL
       ${where} AND lease_owner = @owner`,
    ),
    advance: db.prepare<[Key & { position: number; now: number }]>(
      `UPDATE causeway_projections SET position = @position, updated_at = @now ${where}`,
    ),
    setPaused: db.prepare<[Key & { value: unknown; now: number }]>(
      `UPDATE causeway_projections SET paused = @value, updated_at = @now ${where}`,
    ),
    setError: db.prepare<[Key & { value: unknown; now: number }]>(
      `UPDATE causeway_projections SET error = @value, updated_at = @now ${where}`,
    ),
    activate: db.prepare<[Key & { now: number }]>(
      `UPDATE causeway_projections
       SET status = CASE WHEN version = @version THEN 'active' ELSE 'retired' END, updated_at = @now
       WHERE name = @name AND (version = @version OR status <> 'retired')`,
    ),
    remove: db.prepare<[Key]>(`DELETE FROM causeway_projections ${where}`),
    viewSql: db
      .prepare<[string], string>(`SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?`)
      .pluck(),
  };
}

export function readerStatements(db: SqliteDatabase): ReaderStatements {
  return {
    state: db.prepare<[Key], StateRow>(
      `SELECT ${STATE_COLUMNS} FROM causeway_projections WHERE name = @name AND version = @version`,
    ),
    list: db.prepare<[], StateRow>(
      `SELECT ${STATE_COLUMNS} FROM causeway_projections ORDER BY name, version`,
    ),
  };
}

export function toState(row: StateRow): ProjectionState {
  return {
    name: row.name,
    version: row.version,
    status: row.status,
    paused: row.paused !== 0,
    position: row.position,
    leaseOwner: row.leaseOwner ?? undefined,
    leaseExpiresAt: row.leaseExpiresAt === null ? undefined : new Date(row.leaseExpiresAt),
    error: row.error ?? undefined,
    updatedAt: new Date(row.updatedAt),
  };
}
