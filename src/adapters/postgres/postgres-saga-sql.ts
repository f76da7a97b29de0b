import { ACTIVE_SAGA_STATUSES } from '../../sagas/saga-store.js';
import type { SchemaIdentity } from './postgres-identity.js';

/**
 * Migration 7: saga instances (the layout is in src/adapters/sql/saga-rows.ts). `id` and
 * `name` sort bytewise (`COLLATE "C"`), as the port's "ordered by id" and the `after` cursor
 * mean: a locale collation would put `saga-a` and `saga_b` in another order than every other
 * store. The JSON columns are `json`, not `jsonb`: validated, but kept verbatim, so the data a
 * saga reads back is the text it wrote. `causeway_sagas_resumable` holds only active
 * instances, so the runtimes' claims stay cheap however many finished instances pile up.
 */
export function sagaTablesV7(id: SchemaIdentity): string {
  const s = id.quoted;
  return `
CREATE TABLE ${s}.causeway_sagas (
  id text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  status text NOT NULL CHECK (status IN
    ('running', 'compensating', 'completed', 'failed', 'compensation_failed')),
  version bigint NOT NULL,
  current_step text,
  attempt int NOT NULL,
  data json NOT NULL,
  state json NOT NULL,
  history json NOT NULL,
  lease_owner text,
  lease_expires_at timestamptz,
  abort_requested_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  ended_at timestamptz
);
CREATE INDEX causeway_sagas_by_status ON ${s}.causeway_sagas (status, id);
CREATE INDEX causeway_sagas_by_name ON ${s}.causeway_sagas (name, status, id);
CREATE INDEX causeway_sagas_resumable ON ${s}.causeway_sagas (name, created_at, id)
  WHERE status IN (${ACTIVE_SAGA_STATUSES.map((status) => `'${status}'`).join(', ')});
`;
}

/**
 * The saga statements, per schema. `$now` is the caller's clock when the store was given one
 * (tests), else NULL: the database's `clock_timestamp()`, which every runtime shares.
 */
export function sagaStatements(id: SchemaIdentity) {
  const t = `${id.quoted}.causeway_sagas`;
  // JSON columns as text: `pg` would parse them, and the row codec wants what was written.
  const columnsOf = (p: string) => `${p}id, ${p}name, ${p}status, ${p}version, ${p}current_step,
    ${p}attempt, ${p}data::text AS data, ${p}state::text AS state, ${p}history::text AS history,
    ${p}lease_owner, ${p}lease_expires_at, ${p}abort_requested_at, ${p}created_at,
    ${p}updated_at, ${p}ended_at`;
  const columns = columnsOf('');
  const now = (n: number) => `coalesce($${n}::timestamptz, clock_timestamp())`;
  const expiry = (n: number, ttl: number) =>
    `${now(n)} + $${ttl}::float8 * interval '1 millisecond'`;
  const holds = (owner: number, at: number) =>
    `lease_owner = $${owner} AND lease_expires_at > ${now(at)}`;
  const free = (at: number) =>
    `(lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= ${now(at)})`;
  return {
    /**
     * $1 id, $2 name, $3 status, $4 current_step, $5 attempt, $6 data, $7 state, $8 history,
     * $9 created_at, $10 updated_at, $11 ended_at, $12 abort_requested_at, $13 owner, $14 now,
     * $15 ttl. A concurrent insert of the same id waits for the first to commit, then does
     * nothing.
     */
    insert: `
INSERT INTO ${t} (id, name, status, version, current_step, attempt, data, state, history,
  created_at, updated_at, ended_at, abort_requested_at, lease_owner, lease_expires_at)
VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, ${expiry(14, 15)})
ON CONFLICT (id) DO NOTHING
RETURNING ${columns}`,
    get: `SELECT ${columns} FROM ${t} WHERE id = $1`,
    /** $1 statuses, $2 older than, $3 name or NULL. */
    purge: `
DELETE FROM ${t}
WHERE status = ANY($1::text[]) AND coalesce(ended_at, updated_at) < $2
  AND ($3::text IS NULL OR name = $3)`,
    /** `name` is `COLLATE "C"`; `status` is compared bytewise too, as the port orders. */
    countByStatus: `
SELECT name, status, count(*)::int AS count FROM ${t}
GROUP BY name, status ORDER BY name, status COLLATE "C"`,
    /**
     * $1 id, $2 status, $3 current_step, $4 attempt, $5 data, $6 state, $7 history,
     * $8 updated_at, $9 ended_at, $10 expected version, $11 owner, $12 now, $13 ttl. A
     * concurrent save of the same version waits for the row lock, then PostgreSQL re-checks
     * the WHERE on the new row version: the version moved on, so it writes nothing.
     */
    save: `
UPDATE ${t} SET status = $2, current_step = $3, attempt = $4, data = $5, state = $6,
  history = $7, updated_at = $8, ended_at = $9, version = version + 1,
  lease_expires_at = ${expiry(12, 13)}
WHERE id = $1 AND version = $10 AND ${holds(11, 12)}
RETURNING ${columns}`,
    /** $1 id, $2 owner, $3 now, $4 ttl. */
    acquire: `
UPDATE ${t} SET lease_owner = $2, lease_expires_at = ${expiry(3, 4)}
WHERE id = $1 AND (lease_owner = $2 OR ${free(3)})
RETURNING ${columns}`,
    /** $1 id, $2 owner, $3 now, $4 ttl. */
    renew: `
UPDATE ${t} SET lease_expires_at = ${expiry(3, 4)}
WHERE id = $1 AND ${holds(2, 3)}
RETURNING abort_requested_at IS NOT NULL AS abort_requested`,
    /** $1 id, $2 owner. */
    release: `
UPDATE ${t} SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2`,
    /**
     * $1 names, $2 owner, $3 now, $4 ttl, $5 limit. Rows another claimer is locking are
     * skipped; a row another claimer took since our snapshot is re-checked on the version we
     * lock, fails `free`, and drops out before LIMIT counts it. So two claimers never share
     * an instance.
     */
    claim: `
WITH picked AS (
  SELECT id FROM ${t}
  WHERE name = ANY($1::text[])
    AND status IN (${ACTIVE_SAGA_STATUSES.map((status) => `'${status}'`).join(', ')})
    AND ${free(3)}
  ORDER BY created_at, id LIMIT $5
  FOR UPDATE SKIP LOCKED
)
UPDATE ${t} AS s SET lease_owner = $2, lease_expires_at = ${expiry(3, 4)}
FROM picked WHERE s.id = picked.id
RETURNING ${columnsOf('s.')}`,
    /** $1 id, $2 now. */
    abort: `
UPDATE ${t} SET abort_requested_at = coalesce(abort_requested_at, ${now(2)})
WHERE id = $1
RETURNING ${columns}`,
    /**
     * The list query for one combination of filters (so each shape is one prepared
     * statement): $1 limit, then statuses, name and after, each only when filtered on.
     */
    list(filters: { status: boolean; name: boolean; after: boolean }): string {
      const where: string[] = [];
      let n = 1;
      if (filters.status) where.push(`status = ANY($${++n}::text[])`);
      if (filters.name) where.push(`name = $${++n}`);
      if (filters.after) where.push(`id > $${++n}`);
      return `SELECT ${columns} FROM ${t}
${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
ORDER BY id LIMIT $1`;
    },
  };
}
