import type { SchemaIdentity } from './postgres-identity.js';

/**
 * Durable timers and process manager instances (migration 8). One pending timer per (scope,
 * key, name): a partial unique index, so fired rows stay as the record of a firing and
 * scheduling a name again is one upsert. The due index holds only unfired timers.
 */
export function processTablesV8(id: SchemaIdentity): string {
  const s = id.quoted;
  return `
CREATE TABLE ${s}.causeway_timers (
  id text PRIMARY KEY,
  scope text NOT NULL,
  key text NOT NULL,
  name text NOT NULL,
  due_at timestamptz NOT NULL,
  payload json NOT NULL,
  created_at timestamptz NOT NULL,
  lease_owner text,
  lease_expires_at timestamptz,
  fired_at timestamptz,
  attempts int NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX causeway_timers_pending ON ${s}.causeway_timers (scope, key, name)
  WHERE fired_at IS NULL;
CREATE INDEX causeway_timers_due ON ${s}.causeway_timers (due_at, id) WHERE fired_at IS NULL;
CREATE TABLE ${s}.causeway_process_instances (
  manager text NOT NULL,
  key text NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'completed')),
  state json NOT NULL,
  version bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  completed_at timestamptz,
  PRIMARY KEY (manager, key)
);
`;
}

const TIMER_COLUMNS = `id, scope, key, name, due_at, payload::text AS payload, created_at,
  lease_owner, lease_expires_at, fired_at, attempts`;

/** The channel timer schedules are announced on (per schema). */
export function timerChannel(id: SchemaIdentity): string {
  return `${id.statementPrefix}timers`;
}

/** The timer statements, per schema; the process store runs them on its transaction's client. */
export function timerSql(id: SchemaIdentity) {
  const t = `${id.quoted}.causeway_timers`;
  // Replacing is one upsert on the partial unique index: the old id disappears, so a
  // scheduler holding its claim finds nothing to fire.
  const upsert = `INSERT INTO ${t} (id, scope, key, name, due_at, payload, created_at)
      VALUES ($1, $2, $3, $4, $5, $6::json, $7)
      ON CONFLICT (scope, key, name) WHERE fired_at IS NULL DO UPDATE
      SET id = EXCLUDED.id, due_at = EXCLUDED.due_at, payload = EXCLUDED.payload,
          created_at = EXCLUDED.created_at, lease_owner = NULL, lease_expires_at = NULL,
          attempts = 0`;
  return {
    schedule: upsert,
    /**
     * The schedule plus a NOTIFY on $8 carrying the due time (epoch ms), which PostgreSQL
     * delivers when the transaction commits: schedulers in other processes wake for it.
     */
    scheduleAndNotify: `WITH scheduled AS (${upsert} RETURNING due_at)
      SELECT pg_notify($8, (extract(epoch FROM due_at) * 1000)::bigint::text) FROM scheduled`,
    cancel: `DELETE FROM ${t} WHERE scope = $1 AND key = $2 AND name = $3 AND fired_at IS NULL`,
    cancelAll: `DELETE FROM ${t} WHERE scope = $1 AND key = $2 AND fired_at IS NULL`,
    get: `SELECT ${TIMER_COLUMNS} FROM ${t} WHERE id = $1`,
    pending: `SELECT ${TIMER_COLUMNS} FROM ${t}
      WHERE scope = $1 AND key = $2 AND fired_at IS NULL ORDER BY due_at, id`,
    // SKIP LOCKED: rows another scheduler is claiming, or a transaction is firing right now,
    // are passed over instead of waited for.
    claim: `WITH due AS (
        SELECT id FROM ${t}
        WHERE fired_at IS NULL AND due_at <= $2
          AND (lease_expires_at IS NULL OR lease_expires_at <= $2)
          AND ($5::text[] IS NULL OR scope = ANY ($5::text[]))
        ORDER BY due_at, id LIMIT $4
        FOR UPDATE SKIP LOCKED
      )
      UPDATE ${t} AS timer
      SET lease_owner = $1, lease_expires_at = $3, attempts = timer.attempts + 1
      FROM due WHERE timer.id = due.id
      RETURNING timer.id, timer.scope, timer.key, timer.name, timer.due_at,
        timer.payload::text AS payload, timer.created_at, timer.lease_owner,
        timer.lease_expires_at, timer.fired_at, timer.attempts`,
    fire: `UPDATE ${t} SET fired_at = $3
      WHERE id = $1 AND fired_at IS NULL AND lease_owner = $2 AND lease_expires_at > $3`,
    release: `UPDATE ${t} SET lease_owner = NULL, lease_expires_at = NULL, due_at = $3
      WHERE id = $1 AND fired_at IS NULL AND lease_owner = $2`,
    nextDue: `SELECT min(due_at) AS due FROM ${t}
      WHERE fired_at IS NULL AND ($1::text[] IS NULL OR scope = ANY ($1::text[]))`,
    cleanup: `DELETE FROM ${t} WHERE fired_at IS NOT NULL AND fired_at < $1`,
  };
}

export function processSql(id: SchemaIdentity) {
  const p = `${id.quoted}.causeway_process_instances`;
  const columns = `manager, key, status, state::text AS state, version, created_at, updated_at,
    completed_at`;
  return {
    record: `INSERT INTO ${id.quoted}.causeway_inbox (group_name, message_id) VALUES ($1, $2)
      ON CONFLICT DO NOTHING`,
    // Serializes every transaction on one instance, including the first two messages for a key
    // that has no row to lock yet.
    lock: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
    get: `SELECT ${columns} FROM ${p} WHERE manager = $1 AND key = $2`,
    insert: `INSERT INTO ${p} (manager, key, status, state, version, created_at, updated_at,
        completed_at)
      VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
    update: `UPDATE ${p} SET status = $3, state = $4::json, version = $5, updated_at = $6,
        completed_at = $7
      WHERE manager = $1 AND key = $2 AND version = $5 - 1`,
  };
}
