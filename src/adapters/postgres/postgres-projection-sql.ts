import type { ProjectionState, ProjectionStatus } from '../../projections/projection.js';
import type { SchemaIdentity } from './postgres-identity.js';

/**
 * The `causeway_projections` table (migration 3) and the statements on it: one row per
 * projection version with its status, checkpoint and lease. Lease times come from the
 * database clock (`clock_timestamp()`, not `now()`, which is frozen at the start of a
 * transaction that may have waited for a row lock), so runners on different hosts agree
 * whatever their own clocks say.
 */
export function projectionStateV3(id: SchemaIdentity): string {
  return `
CREATE TABLE ${id.quoted}.causeway_projections (
  name text NOT NULL,
  version int NOT NULL,
  status text NOT NULL CHECK (status IN ('building', 'active', 'retired')),
  paused boolean NOT NULL DEFAULT false,
  position bigint NOT NULL DEFAULT 0,
  lease_owner text,
  lease_expires_at timestamptz,
  error text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);
`;
}

export interface StateRecord {
  name: string;
  version: number;
  status: ProjectionStatus;
  paused: boolean;
  /** int8 arrives as a string. */
  position: string;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  error: string | null;
  updated_at: Date;
}

export function toState(row: StateRecord): ProjectionState {
  return {
    name: row.name,
    version: row.version,
    status: row.status,
    paused: row.paused,
    position: Number(row.position),
    leaseOwner: row.lease_owner ?? undefined,
    leaseExpiresAt: row.lease_expires_at ?? undefined,
    error: row.error ?? undefined,
    updatedAt: row.updated_at,
  };
}

const COLUMNS =
  'name, version, status, paused, position, lease_owner, lease_expires_at, error, updated_at';

/** The statements, by prepared-statement name suffix, for one schema. */
export function stateStatements(id: SchemaIdentity) {
  const table = `${id.quoted}.causeway_projections`;
  const key = 'name = $1 AND version = $2';
  return {
    get: `SELECT ${COLUMNS} FROM ${table} WHERE ${key}`,
    list: `SELECT ${COLUMNS} FROM ${table} ORDER BY name, version`,
    // The first version of a projection ever prepared starts active; later ones build first.
    // Callers hold the schema's DDL lock, so two first versions cannot race.
    insert: `INSERT INTO ${table} (name, version, status)
       VALUES ($1, $2, CASE WHEN EXISTS (SELECT 1 FROM ${table} WHERE name = $1)
         THEN 'building' ELSE 'active' END)
       ON CONFLICT (name, version) DO NOTHING`,
    acquire: `UPDATE ${table}
       SET lease_owner = $3, lease_expires_at = clock_timestamp() + $4 * interval '1 millisecond'
       WHERE ${key} AND (lease_owner IS NULL OR lease_expires_at IS NULL
         OR lease_expires_at <= clock_timestamp() OR lease_owner = $3)`,
    release: `UPDATE ${table} SET lease_owner = NULL, lease_expires_at = NULL
       WHERE ${key} AND lease_owner = $3`,
    // The batch's fence: the row lock keeps any other runner (and setPaused, activate…)
    // waiting until this batch commits or rolls back.
    lockForBatch: `SELECT position, lease_owner = $3 AND lease_expires_at > clock_timestamp() AS held
       FROM ${table} WHERE ${key} FOR UPDATE`,
    advance: `UPDATE ${table} SET position = $3, updated_at = now() WHERE ${key}`,
    setPaused: `UPDATE ${table} SET paused = $3, updated_at = now() WHERE ${key}`,
    setError: `UPDATE ${table} SET error = $3, updated_at = now() WHERE ${key}`,
    lock: `SELECT 1 FROM ${table} WHERE ${key} FOR UPDATE`,
    activate: `UPDATE ${table}
       SET status = CASE WHEN version = $2 THEN 'active' ELSE 'retired' END, updated_at = now()
       WHERE name = $1 AND (version = $2 OR status <> 'retired')`,
    remove: `DELETE FROM ${table} WHERE ${key}`,
  } as const;
}

export type StateStatement = keyof ReturnType<typeof stateStatements>;
