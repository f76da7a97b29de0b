/**
 * The DDL and PL/pgSQL of the PostgreSQL event store, per schema. The write and read paths
 * live in functions so an append or a page of the global log is one round trip.
 *
 * Why no event is ever skipped (the "high-water mark" protocol):
 * - A writer allocates its batch's global positions while holding the schema's allocation
 *   lock K (a session-level advisory lock), and before releasing K takes a
 *   transaction-level advisory lock on `inFlightBase + first position`. That lock lives
 *   until the transaction commits or aborts, and PostgreSQL releases locks only after the
 *   commit is visible to new snapshots.
 * - A reader takes K (shared), reads the sequence's last value and the smallest in-flight
 *   first position from `pg_locks`, and releases K. Every position below that smallest
 *   in-flight one is committed or rolled back; the high-water mark is one less (or the
 *   sequence's value when nothing is in flight). Rows are then read in a NEW statement (a new
 *   snapshot) and never beyond the mark.
 * Ordering by position while filtering on xids is not enough: a transaction may have had
 * an xid long before it allocated positions, so xid order and position order differ.
 */
import { POSITION_BITS, type SchemaIdentity } from './postgres-identity.js';
import { projectionStateV3 } from './postgres-projection-sql.js';
import { messagingTablesV6 } from './postgres-messaging-sql.js';
import { processTablesV8 } from './postgres-process-sql.js';
import {
  outboxRelayV12,
  publishParsesOnceV10,
  publishTellsListenersV13,
  queueFunctionsV9,
} from './postgres-queue-functions.js';
import { sagaTablesV7 } from './postgres-saga-sql.js';
import { streamStateTablesV11 } from './postgres-stream-state-sql.js';
import { transportTablesV5 } from './postgres-transport-sql.js';

export interface Migration {
  version: number;
  description: string;
  sql(identity: SchemaIdentity): string;
}

/** Applied in order, each once, inside one transaction under the migration lock. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'event store, checkpoints, snapshots', sql: eventStoreV1 },
  { version: 2, description: 'read_all walks the primary key in order', sql: readAllByIndexV2 },
  { version: 3, description: 'projection state', sql: projectionStateV3 },
  { version: 4, description: 'a tombstone removes the snapshot', sql: tombstoneForgetsSnapshotV4 },
  { version: 5, description: 'transport queue tables', sql: transportTablesV5 },
  { version: 6, description: 'outbox, inbox, idempotency keys', sql: messagingTablesV6 },
  { version: 7, description: 'saga instances', sql: sagaTablesV7 },
  { version: 8, description: 'timers, process manager instances', sql: processTablesV8 },
  {
    version: 9,
    description: 'publish and claims as functions: one round trip each',
    sql: queueFunctionsV9,
  },
  { version: 10, description: 'publish parses its batch once', sql: publishParsesOnceV10 },
  { version: 11, description: 'stream processing state', sql: streamStateTablesV11 },
  {
    version: 12,
    description: 'outbox relayed into the transport in one statement',
    sql: outboxRelayV12,
  },
  {
    version: 13,
    description: 'publish says whether a consumer listens; a single message as typed arguments',
    sql: publishTellsListenersV13,
  },
];

/**
 * A hard delete must leave no copy of the stream's state behind: when a stream row turns
 * `tombstoned`, its snapshot goes in the same transaction (as on SQLite).
 */
function tombstoneForgetsSnapshotV4(id: SchemaIdentity): string {
  const s = id.quoted;
  return `
DELETE FROM ${s}.causeway_snapshots sn
 USING ${s}.causeway_streams st
 WHERE st.stream_id = sn.stream_id AND st.state = 'tombstoned';

CREATE FUNCTION ${s}.causeway_forget_snapshot() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM ${s}.causeway_snapshots WHERE stream_id = NEW.stream_id;
  RETURN NULL;
END $fn$;

CREATE TRIGGER causeway_tombstone_forgets_snapshot
  AFTER UPDATE OF state ON ${s}.causeway_streams
  FOR EACH ROW WHEN (NEW.state = 'tombstoned')
  EXECUTE FUNCTION ${s}.causeway_forget_snapshot();
`;
}

function eventStoreV1(id: SchemaIdentity): string {
  const s = id.quoted;
  const k = id.allocationLock.toString();
  const base = id.allocationLock.toString();
  // pg_locks splits a bigint key into classid (high 32 bits) and objid (low 32 bits).
  const classLow = (id.allocationLock >> 32n).toString();
  const classHigh = ((id.allocationLock + (1n << POSITION_BITS) - 1n) >> 32n).toString();
  const seq = `'${s}.causeway_position_seq'`;
  return `
CREATE SEQUENCE ${s}.causeway_position_seq AS bigint MINVALUE 1 START 1 CACHE 1 NO CYCLE;

-- COLLATE "C": stream ids sort by code point, as the in-memory store sorts them, whatever
-- the database's locale; it also lets LIKE 'prefix%' use the primary key.
CREATE TABLE ${s}.causeway_streams (
  stream_id text COLLATE "C" PRIMARY KEY,
  version bigint NOT NULL,
  state text NOT NULL CHECK (state IN ('active', 'soft_deleted', 'tombstoned')),
  metadata json NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- data and metadata are json, not jsonb: json keeps the serialized text byte for byte (the
-- codec's promise that every adapter stores the same bytes), accepts what JSON.stringify
-- produces (jsonb rejects "\\u0000" and lone surrogates) and only validates on insert.
CREATE TABLE ${s}.causeway_events (
  global_position bigint PRIMARY KEY,
  id text NOT NULL UNIQUE,
  stream_id text COLLATE "C" NOT NULL,
  stream_version bigint NOT NULL,
  type text NOT NULL,
  source text NOT NULL,
  subject text NOT NULL,
  time timestamptz NOT NULL,
  datacontenttype text NOT NULL,
  data json NOT NULL,
  metadata json NOT NULL,
  schema_version int NOT NULL,
  UNIQUE (stream_id, stream_version)
);

CREATE TABLE ${s}.causeway_checkpoints (
  name text PRIMARY KEY,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ${s}.causeway_snapshots (
  stream_id text COLLATE "C" PRIMARY KEY,
  version bigint NOT NULL,
  state_version int NOT NULL,
  state json NOT NULL,
  created_at timestamptz NOT NULL
);

-- The rule of checkExpectedVersion in src/event-store/expected-version.ts as a predicate
-- the planner inlines into the append's UPDATE. Keep the two in step. On a conflict the
-- driver replays the kernel's function on the DETAIL ("state:version"), so callers get the
-- kernel's own error. Versions compare as text: no cast can fail on 'any' and friends.
CREATE FUNCTION ${s}.causeway_expected_holds(p_expected text, p_state text, p_version bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $fn$
  SELECT coalesce(p_state, '') <> 'tombstoned' AND CASE p_expected
    WHEN 'any' THEN true
    WHEN 'no_stream' THEN NOT coalesce(p_state = 'active' AND p_version > 0, false)
    WHEN '0' THEN NOT coalesce(p_state = 'active' AND p_version > 0, false)
    WHEN 'stream_exists' THEN coalesce(p_state = 'active' AND p_version > 0, false)
    ELSE coalesce(p_state = 'active' AND p_version > 0 AND p_version::text = p_expected, false)
  END
$fn$;

CREATE FUNCTION ${s}.causeway_check_expected(p_expected text, p_state text, p_version bigint)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF NOT ${s}.causeway_expected_holds(p_expected, p_state, p_version) THEN
    RAISE EXCEPTION 'causeway: expected version % does not match the stream', p_expected
      USING ERRCODE = 'CW001', DETAIL = coalesce(p_state, 'missing') || ':' || coalesce(p_version, 0);
  END IF;
END $fn$;

-- The reader side of the protocol: the safe high-water mark.
CREATE FUNCTION ${s}.causeway_head()
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  v_last bigint;
  v_called boolean;
  v_min bigint;
BEGIN
  PERFORM pg_advisory_lock_shared(${k});
  BEGIN
    SELECT q.last_value, q.is_called INTO v_last, v_called FROM ${s}.causeway_position_seq q;
    SELECT min((l.classid::bigint << 32) | l.objid::bigint) INTO v_min
      FROM pg_catalog.pg_locks l
     WHERE l.locktype = 'advisory' AND l.objsubid = 1
       AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
       AND l.classid::bigint BETWEEN ${classLow} AND ${classHigh}
       AND ((l.classid::bigint << 32) | l.objid::bigint) > ${base};
  EXCEPTION WHEN query_canceled OR others THEN
    PERFORM pg_advisory_unlock_shared(${k});
    RAISE;
  END;
  PERFORM pg_advisory_unlock_shared(${k});
  IF v_min IS NOT NULL THEN
    RETURN v_min - ${base} - 1;
  END IF;
  RETURN CASE WHEN v_called THEN v_last ELSE 0 END;
END $fn$;

-- One page of the global log. The first row carries only the high-water mark. VOLATILE on
-- purpose: at READ COMMITTED each statement of a volatile function takes a new snapshot, so
-- the rows are read after the mark was computed.
CREATE FUNCTION ${s}.causeway_read_all(p_after bigint, p_limit int, p_types text[], p_prefix text)
RETURNS TABLE (global_position bigint, id text, stream_id text, stream_version bigint,
  type text, source text, subject text, "time" timestamptz, datacontenttype text, data text,
  metadata text, schema_version int)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
  v_hwm bigint;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'causeway: the global log must be read at READ COMMITTED, not %',
      current_setting('transaction_isolation') USING ERRCODE = 'CW002';
  END IF;
  v_hwm := ${s}.causeway_head();
  global_position := v_hwm;
  RETURN NEXT;
  IF v_hwm <= p_after THEN
    RETURN;
  END IF;
  RETURN QUERY
    SELECT e.global_position, e.id, e.stream_id::text, e.stream_version, e.type, e.source,
           e.subject, e.time, e.datacontenttype, e.data::text, e.metadata::text, e.schema_version
      FROM ${s}.causeway_events e
     WHERE e.global_position > p_after AND e.global_position <= v_hwm
       AND (p_types IS NULL OR e.type = ANY (p_types))
       AND (p_prefix IS NULL OR starts_with(e.stream_id, p_prefix))
     ORDER BY e.global_position
     LIMIT p_limit;
END $fn$;

-- The whole append in one call: lock (or create) the stream row, check the expected version,
-- allocate positions, insert, notify. Positions are allocated after the row lock, so a writer
-- waiting for its stream holds no position back. Returns {next version, first position}: an
-- array read with SELECT f() costs measurably less than OUT parameters and SELECT * FROM f().
CREATE FUNCTION ${s}.causeway_append(p_stream_id text, p_expected text, p_now timestamptz,
  p_notify boolean, p_ids text[], p_types text[], p_sources text[], p_subjects text[],
  p_times timestamptz[], p_content_types text[], p_data text[], p_metadata text[],
  p_schema_versions int[])
RETURNS bigint[] LANGUAGE plpgsql AS $fn$
DECLARE
  v_count int := coalesce(cardinality(p_ids), 0);
  v_version bigint;
  v_state text;
  v_first bigint;
BEGIN
  IF v_count > 0 THEN
    -- Fast path, one statement: lock an existing stream whose head satisfies the expected
    -- version and bump it. At READ COMMITTED a row updated concurrently is re-checked in
    -- its newest version. No row: a new stream or a conflict, sorted out below.
    UPDATE ${s}.causeway_streams s
       SET version = s.version + v_count, state = 'active', updated_at = p_now
     WHERE s.stream_id = p_stream_id AND ${s}.causeway_expected_holds(p_expected, s.state, s.version)
    RETURNING s.version - v_count INTO v_version;
  END IF;
  IF v_version IS NULL THEN
    LOOP
      SELECT s.version, s.state INTO v_version, v_state
        FROM ${s}.causeway_streams s WHERE s.stream_id = p_stream_id FOR UPDATE;
      EXIT WHEN FOUND;
      PERFORM ${s}.causeway_check_expected(p_expected, NULL, NULL);
      IF v_count = 0 THEN
        RETURN ARRAY[0, NULL]::bigint[];
      END IF;
      INSERT INTO ${s}.causeway_streams (stream_id, version, state, metadata, created_at, updated_at)
      VALUES (p_stream_id, v_count, 'active', '{}', p_now, p_now)
      ON CONFLICT (stream_id) DO NOTHING;
      IF FOUND THEN
        v_version := 0;
        EXIT;
      END IF;
      -- Another writer created the stream meanwhile: lock its row and check again.
    END LOOP;
    IF v_state IS NOT NULL THEN
      PERFORM ${s}.causeway_check_expected(p_expected, v_state, v_version);
      IF v_count = 0 THEN
        RETURN ARRAY[CASE WHEN v_state = 'active' THEN v_version ELSE 0 END, NULL]::bigint[];
      END IF;
      UPDATE ${s}.causeway_streams
         SET version = v_version + v_count, state = 'active', updated_at = p_now
       WHERE stream_id = p_stream_id;
    END IF;
  END IF;
  -- Step 1 of the protocol, writer side, inline (a nested call costs measurably). The
  -- exception block releases K even when the statement is cancelled while holding it:
  -- session locks outlive errors.
  PERFORM pg_advisory_lock(${k});
  BEGIN
    v_first := nextval(${seq});
    IF v_count > 1 THEN
      PERFORM setval(${seq}, v_first + v_count - 1);
    END IF;
    PERFORM pg_advisory_xact_lock_shared(${base} + v_first);
  EXCEPTION WHEN query_canceled OR others THEN
    PERFORM pg_advisory_unlock(${k});
    RAISE;
  END;
  PERFORM pg_advisory_unlock(${k});
  IF v_count = 1 THEN
    -- The common single-event append skips unnest's materialized function scan.
    INSERT INTO ${s}.causeway_events (global_position, id, stream_id, stream_version, type,
      source, subject, time, datacontenttype, data, metadata, schema_version)
    VALUES (v_first, p_ids[1], p_stream_id, v_version + 1, p_types[1], p_sources[1],
      p_subjects[1], p_times[1], p_content_types[1], p_data[1]::json, p_metadata[1]::json,
      p_schema_versions[1]);
  ELSE
    INSERT INTO ${s}.causeway_events (global_position, id, stream_id, stream_version, type,
      source, subject, time, datacontenttype, data, metadata, schema_version)
    SELECT v_first + e.n - 1, e.id, p_stream_id, v_version + e.n, e.type, e.source,
           e.subject, e.time, e.content_type, e.data::json, e.metadata::json, e.schema_version
      FROM unnest(p_ids, p_types, p_sources, p_subjects, p_times, p_content_types, p_data,
                  p_metadata, p_schema_versions)
           WITH ORDINALITY AS e(id, type, source, subject, time, content_type, data, metadata,
                                schema_version, n);
  END IF;
  IF p_notify THEN
    PERFORM pg_notify('${id.channel}', '');
  END IF;
  RETURN ARRAY[v_version + v_count, v_first];
END $fn$;

-- Soft delete or tombstone after the same expected-version check. A missing stream is
-- created first (as the in-memory store does), so the row can be locked and checked; a
-- failed check rolls that back with everything else.
CREATE FUNCTION ${s}.causeway_delete_stream(p_stream_id text, p_expected text, p_mode text,
  p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  v_version bigint;
  v_state text;
BEGIN
  INSERT INTO ${s}.causeway_streams (stream_id, version, state, metadata, created_at, updated_at)
  VALUES (p_stream_id, 0, 'active', '{}', p_now, p_now)
  ON CONFLICT (stream_id) DO NOTHING;
  SELECT s.version, s.state INTO v_version, v_state
    FROM ${s}.causeway_streams s WHERE s.stream_id = p_stream_id FOR UPDATE;
  PERFORM ${s}.causeway_check_expected(p_expected, v_state, v_version);
  IF p_mode = 'soft' THEN
    -- Merge truncateBefore into the json metadata without a jsonb round trip (which would
    -- reject some strings json accepts).
    UPDATE ${s}.causeway_streams s
       SET state = 'soft_deleted', updated_at = p_now,
           metadata = (SELECT json_object_agg(m.key, m.value)
                         FROM (SELECT j.key, j.value FROM json_each(s.metadata) j
                                WHERE j.key <> 'truncateBefore'
                               UNION ALL
                               SELECT 'truncateBefore', to_json(v_version + 1)) m)
     WHERE s.stream_id = p_stream_id;
  ELSE
    DELETE FROM ${s}.causeway_events e WHERE e.stream_id = p_stream_id;
    UPDATE ${s}.causeway_streams s SET state = 'tombstoned', updated_at = p_now
     WHERE s.stream_id = p_stream_id;
  END IF;
END $fn$;
`;
}

/**
 * `causeway_read_all` with the same signature, body and result, planned with sorting
 * disabled. A page is `ORDER BY global_position LIMIT n` over a range of the primary key; the
 * right plan always walks that index in order and stops after n rows. On a table without
 * statistics (every new store until autovacuum analyzes it) the planner guesses the range
 * holds a few hundred rows and instead bitmap-scans everything after the position and sorts
 * it, re-reading the rest of the log for every page: 14-20 ms per 500-row page at 50k events,
 * growing with the log. Rewriting a bound (`global_position + 0`) only moves the guess: the
 * type-filtered reads of projection runners still sorted at every size we tried. With sorts
 * disabled, the ordered index scan is the only plan left. The setting applies only while the
 * function runs.
 */
function readAllByIndexV2(id: SchemaIdentity): string {
  const s = id.quoted;
  return `
CREATE OR REPLACE FUNCTION ${s}.causeway_read_all(p_after bigint, p_limit int, p_types text[], p_prefix text)
RETURNS TABLE (global_position bigint, id text, stream_id text, stream_version bigint,
  type text, source text, subject text, "time" timestamptz, datacontenttype text, data text,
  metadata text, schema_version int)
LANGUAGE plpgsql VOLATILE SET enable_sort = off AS $fn$
#variable_conflict use_column
DECLARE
  v_hwm bigint;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'causeway: the global log must be read at READ COMMITTED, not %',
      current_setting('transaction_isolation') USING ERRCODE = 'CW002';
  END IF;
  v_hwm := ${s}.causeway_head();
  global_position := v_hwm;
  RETURN NEXT;
  IF v_hwm <= p_after THEN
    RETURN;
  END IF;
  RETURN QUERY
    SELECT e.global_position, e.id, e.stream_id::text, e.stream_version, e.type, e.source,
           e.subject, e.time, e.datacontenttype, e.data::text, e.metadata::text, e.schema_version
      FROM ${s}.causeway_events e
     WHERE e.global_position > p_after AND e.global_position <= v_hwm
       AND (p_types IS NULL OR e.type = ANY (p_types))
       AND (p_prefix IS NULL OR starts_with(e.stream_id, p_prefix))
     ORDER BY e.global_position
     LIMIT p_limit;
END $fn$;
`;
}
