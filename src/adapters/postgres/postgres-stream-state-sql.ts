import type { SchemaIdentity } from './postgres-identity.js';

/**
 * Stream processing state, per scope (a task or one partition of it): who holds the scope
 * (the generation fences a stale process), source positions, key-value and window entries,
 * operators' stream times, and outputs waiting for their sink.
 */
export function streamStateTablesV11(id: SchemaIdentity): string {
  const s = id.quoted;
  return `
CREATE TABLE ${s}.causeway_stream_scopes (
  scope            text PRIMARY KEY,
  owner            text,
  generation       bigint NOT NULL,
  lease_expires_at bigint,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ${s}.causeway_stream_positions (
  scope    text NOT NULL,
  source   text NOT NULL,
  position text NOT NULL,
  PRIMARY KEY (scope, source)
);
CREATE TABLE ${s}.causeway_stream_entries (
  scope  text NOT NULL,
  store  text NOT NULL,
  key_id text NOT NULL,
  key    text NOT NULL,
  value  text NOT NULL,
  PRIMARY KEY (scope, store, key_id)
);
CREATE TABLE ${s}.causeway_stream_windows (
  scope        text NOT NULL,
  store        text NOT NULL,
  key_id       text NOT NULL,
  window_start bigint NOT NULL,
  window_end   bigint NOT NULL,
  key          text NOT NULL,
  value        text NOT NULL,
  PRIMARY KEY (scope, store, key_id, window_start, window_end)
);
CREATE TABLE ${s}.causeway_stream_times (
  scope       text NOT NULL,
  store       text NOT NULL,
  stream_time double precision NOT NULL,
  PRIMARY KEY (scope, store)
);
CREATE TABLE ${s}.causeway_stream_outbox (
  seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scope  text NOT NULL,
  id     text NOT NULL,
  sink   text NOT NULL,
  record text NOT NULL,
  UNIQUE (scope, id)
);
`;
}

/** The statements of `PostgresStateRepository`; batches travel as arrays through `unnest`. */
export function streamStateStatements(id: SchemaIdentity) {
  const s = id.quoted;
  return {
    claim: `
      INSERT INTO ${s}.causeway_stream_scopes AS sc (scope, owner, generation, lease_expires_at)
      VALUES ($1, $2, 1, $3)
      ON CONFLICT (scope) DO UPDATE SET
        owner = EXCLUDED.owner,
        generation = sc.generation + 1,
        lease_expires_at = EXCLUDED.lease_expires_at,
        updated_at = now()
      WHERE $5::boolean OR sc.owner IS NULL OR sc.owner = EXCLUDED.owner
         OR coalesce(sc.lease_expires_at, 0) <= $4
      RETURNING generation`,
    // The row lock this takes orders a commit against a concurrent claim of the scope.
    fence: `
      UPDATE ${s}.causeway_stream_scopes SET lease_expires_at = $3, updated_at = now()
      WHERE scope = $1 AND generation = $2`,
    release: `
      UPDATE ${s}.causeway_stream_scopes SET owner = NULL, lease_expires_at = NULL, updated_at = now()
      WHERE scope = $1 AND generation = $2`,
    putEntries: `
      INSERT INTO ${s}.causeway_stream_entries (scope, store, key_id, key, value)
      SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
      ON CONFLICT (scope, store, key_id) DO UPDATE SET value = EXCLUDED.value`,
    deleteEntries: `
      DELETE FROM ${s}.causeway_stream_entries
      WHERE scope = $1 AND (store, key_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
    putWindows: `
      INSERT INTO ${s}.causeway_stream_windows (scope, store, key_id, window_start, window_end, key, value)
      SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
      ON CONFLICT (scope, store, key_id, window_start, window_end) DO UPDATE SET value = EXCLUDED.value`,
    deleteWindows: `
      DELETE FROM ${s}.causeway_stream_windows
      WHERE scope = $1 AND (store, key_id, window_start, window_end) IN
        (SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]))`,
    putTimes: `
      INSERT INTO ${s}.causeway_stream_times (scope, store, stream_time)
      SELECT $1, * FROM unnest($2::text[], $3::double precision[])
      ON CONFLICT (scope, store) DO UPDATE SET stream_time = EXCLUDED.stream_time`,
    putPositions: `
      INSERT INTO ${s}.causeway_stream_positions (scope, source, position)
      SELECT $1, * FROM unnest($2::text[], $3::text[])
      ON CONFLICT (scope, source) DO UPDATE SET position = EXCLUDED.position`,
    putOutbox: `
      INSERT INTO ${s}.causeway_stream_outbox (scope, id, sink, record)
      SELECT $1, o.id, o.sink, o.record
      FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS o (id, sink, record, n)
      ORDER BY o.n
      ON CONFLICT (scope, id) DO NOTHING`,
    deleteOutbox: `DELETE FROM ${s}.causeway_stream_outbox WHERE scope = $1 AND id = ANY ($2::text[])`,
    positions: `SELECT source, position FROM ${s}.causeway_stream_positions WHERE scope = $1`,
    entries: `SELECT store, key_id, key, value FROM ${s}.causeway_stream_entries WHERE scope = $1`,
    windows: `
      SELECT store, key_id, key, value, window_start, window_end
      FROM ${s}.causeway_stream_windows WHERE scope = $1`,
    times: `SELECT store, stream_time FROM ${s}.causeway_stream_times WHERE scope = $1`,
    outbox: `SELECT id, sink, record FROM ${s}.causeway_stream_outbox WHERE scope = $1 ORDER BY seq`,
    owners: `
      SELECT scope, owner, generation, lease_expires_at FROM ${s}.causeway_stream_scopes
      WHERE starts_with(scope, $1)`,
  };
}
