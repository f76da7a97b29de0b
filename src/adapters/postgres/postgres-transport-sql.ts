import { escapeLiteral } from 'pg';
import type { SchemaIdentity } from './postgres-identity.js';

/**
 * The queue tables of the PostgreSQL transport (migration 5) and the statements on them.
 * A destination's log is `causeway_messages`; each group has one `causeway_deliveries` row
 * per message it has not settled yet (deleted on ack and dead-letter). Lease and retry times
 * come from the database clock (`clock_timestamp()`), so consumers on different hosts agree.
 */
export function transportTablesV5(id: SchemaIdentity): string {
  const s = id.quoted;
  return `
CREATE TABLE ${s}.causeway_messages (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  destination text NOT NULL,
  id text,
  headers json NOT NULL,
  body text NOT NULL,
  partition_key text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX causeway_messages_log ON ${s}.causeway_messages (destination, position);

CREATE TABLE ${s}.causeway_consumer_groups (
  destination text NOT NULL,
  group_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (destination, group_name)
);

CREATE TABLE ${s}.causeway_deliveries (
  destination text NOT NULL,
  group_name text NOT NULL,
  position bigint NOT NULL,
  partition_key text,
  attempt int NOT NULL DEFAULT 1,
  available_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  locked_by text,
  locked_until timestamptz,
  first_failure_at timestamptz,
  PRIMARY KEY (destination, group_name, position)
);
CREATE INDEX causeway_deliveries_by_key
  ON ${s}.causeway_deliveries (destination, group_name, partition_key, position)
  WHERE partition_key IS NOT NULL;

CREATE TABLE ${s}.causeway_dead_letters (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id text,
  destination text NOT NULL,
  group_name text NOT NULL,
  headers json NOT NULL,
  body text NOT NULL,
  failure json NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX causeway_dead_letters_by_destination
  ON ${s}.causeway_dead_letters (destination, id);
`;
}

/** "CWqu": the first int4 key of the transport's advisory locks. */
export const QUEUE_LOCK_CLASS = 0x43577175;

/**
 * The transport's advisory locks. Publishers take the destination's lock shared, a group's
 * first consumer exclusive: a message committed concurrently with the group's creation is
 * then either copied by the backfill or fanned out to the group, never neither. Claims take
 * their group's lock exclusive. The key is a literal so the statement can travel with BEGIN in
 * one round trip (a simple query takes no parameters); `escapeLiteral` quotes it.
 */
export function queueLock(mode: 'shared' | 'exclusive', key: string): string {
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  return `SELECT ${fn}(${QUEUE_LOCK_CLASS}, hashtext(${escapeLiteral(key)}))`;
}

/** The statements, per schema. `$n` parameters are listed beside each. */
export function transportStatements(id: SchemaIdentity) {
  const s = id.quoted;
  const held = 'destination = $1 AND group_name = $2 AND position = $3 AND locked_by = $4';
  return {
    /** $1 destination, $2 json array of {id, headers, body, key}: the log rows and their fan-out. */
    publish: `
WITH batch AS (
  SELECT e->>'id' AS id, e->'headers' AS headers, e->>'body' AS body, e->>'key' AS key, n
  FROM json_array_elements($2::json) WITH ORDINALITY AS t(e, n)
), logged AS (
  INSERT INTO ${s}.causeway_messages (destination, id, headers, body, partition_key)
  SELECT $1::text, id, headers, body, key FROM batch ORDER BY n
  RETURNING position, partition_key
)
INSERT INTO ${s}.causeway_deliveries (destination, group_name, position, partition_key)
SELECT g.destination, g.group_name, l.position, l.partition_key
FROM logged l CROSS JOIN ${s}.causeway_consumer_groups g WHERE g.destination = $1`,
    groupExists: `SELECT 1 FROM ${s}.causeway_consumer_groups WHERE destination = $1 AND group_name = $2`,
    /** $1 destination, $2 group: a new group starts from the beginning of the log. */
    join: `
WITH added AS (
  INSERT INTO ${s}.causeway_consumer_groups (destination, group_name) VALUES ($1::text, $2::text)
  ON CONFLICT DO NOTHING RETURNING destination
)
INSERT INTO ${s}.causeway_deliveries (destination, group_name, position, partition_key)
SELECT m.destination, $2::text, m.position, m.partition_key
FROM ${s}.causeway_messages m JOIN added a ON a.destination = m.destination`,
    /**
     * $1 destination, $2 group, $3 consumer, $4 limit, $5 lease ms. Claims run one at a time
     * per group (under the group's exclusive `queueLock`), so the key check below sees every
     * committed claim; SKIP LOCKED passes over rows being settled right now. Per-key order: a
     * keyed row waits while an earlier row of its key is leased to another consumer; earlier
     * rows leased to this consumer were handed over first, and rows waiting for their retry
     * delay do not hold the key back (see Consumer). A row still marked as leased was held
     * by a consumer that died: that delivery counts as an attempt.
     */
    claim: `
WITH picked AS (
  SELECT d.position FROM ${s}.causeway_deliveries d
  WHERE d.destination = $1 AND d.group_name = $2 AND d.available_at <= clock_timestamp()
    AND (d.locked_until IS NULL OR d.locked_until < clock_timestamp())
    AND (d.partition_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM ${s}.causeway_deliveries e
      WHERE e.destination = d.destination AND e.group_name = d.group_name
        AND e.partition_key = d.partition_key AND e.position < d.position
        AND e.locked_until >= clock_timestamp() AND e.locked_by <> $3))
  ORDER BY d.position LIMIT $4
  FOR UPDATE SKIP LOCKED
)
UPDATE ${s}.causeway_deliveries d
SET locked_by = $3, locked_until = clock_timestamp() + $5::float8 * interval '1 millisecond',
    attempt = d.attempt + (d.locked_by IS NOT NULL)::int
FROM picked p, ${s}.causeway_messages m
WHERE d.destination = $1 AND d.group_name = $2 AND d.position = p.position
  AND m.position = d.position
RETURNING d.position, d.attempt, d.first_failure_at, m.headers, m.body`,
    /** $1 destination, $2 group, $3 consumer, $4 positions, $5 lease ms. */
    extend: `
UPDATE ${s}.causeway_deliveries
SET locked_until = clock_timestamp() + $5::float8 * interval '1 millisecond'
WHERE destination = $1 AND group_name = $2 AND locked_by = $3 AND position = ANY($4::bigint[])`,
    /** $1-$4 the held row. */
    ack: `DELETE FROM ${s}.causeway_deliveries WHERE ${held}`,
    release: `UPDATE ${s}.causeway_deliveries SET locked_by = NULL, locked_until = NULL WHERE ${held}`,
    /** $1-$4 the held row, $5 delay ms, $6 first failure. */
    retry: `
UPDATE ${s}.causeway_deliveries
SET attempt = attempt + 1, available_at = clock_timestamp() + $5::float8 * interval '1 millisecond',
    first_failure_at = coalesce(first_failure_at, $6::timestamptz), locked_by = NULL, locked_until = NULL
WHERE ${held}`,
    /**
     * $1-$4 the held row, $5 message id, $6 headers, $7 body, $8 failure. Recorded only by
     * the consumer still holding the row: after a lost lease someone else settles it.
     */
    deadLetter: `
WITH settled AS (DELETE FROM ${s}.causeway_deliveries WHERE ${held} RETURNING position)
INSERT INTO ${s}.causeway_dead_letters (message_id, destination, group_name, headers, body, failure)
SELECT $5::text, $1, $2, $6::json, $7::text, $8::json FROM settled`,
    /** $1 destination or NULL for all. */
    deadLetters: `
SELECT id, destination, group_name, headers, body, failure, created_at
FROM ${s}.causeway_dead_letters WHERE ($1::text IS NULL OR destination = $1) ORDER BY id`,
  };
}

export interface ClaimRecord {
  /** int8 arrives as a string. */
  position: string;
  attempt: number;
  first_failure_at: Date | null;
  headers: Record<string, string>;
  body: string;
}

export interface DeadLetterRecord {
  id: string;
  destination: string;
  group_name: string;
  headers: Record<string, string>;
  body: string;
  failure: object;
  created_at: Date;
}
