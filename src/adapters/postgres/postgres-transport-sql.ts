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
 * "CWli": the first int4 key of the listen locks, held shared by the LISTEN connection of each
 * process consuming a destination and tried exclusive by publishes (migration 13).
 */
export const LISTEN_LOCK_CLASS = 0x43576c69;

/**
 * The transport's advisory locks. Publishers take the destination's lock shared, a group's
 * first consumer exclusive: a message committed concurrently with the group's creation is
 * then either copied by the backfill or fanned out to the group, never neither. Claims take
 * their group's lock exclusive. Publish and claim take theirs inside their functions
 * (migration 9); this statement is for the group's creation, whose key is a literal so the
 * statement can travel with BEGIN in one round trip (a simple query takes no parameters);
 * `escapeLiteral` quotes it.
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
    /**
     * $1 destination, $2 json array of {id, headers, body, key}, $3 the destination's lock key:
     * the log rows and their fan-out, under the destination's shared lock (migrations 9, 13).
     */
    publish: `SELECT ${s}.causeway_publish_batch($1::text, $2::json, $3::text) AS listened`,
    /**
     * $1 destination, $2 id, $3 headers json, $4 body, $5 partition key, $6 the destination's
     * lock key: one message, no batch JSON (migration 13). Both return whether to NOTIFY.
     */
    publishOne: `
SELECT ${s}.causeway_publish_one($1::text, $2::text, $3::json, $4::text, $5::text, $6::text) AS listened`,
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
     * $1 destination, $2 group, $3 consumer, $4 limit, $5 lease ms, $6 the group's lock key:
     * leases the next deliveries, per-key order kept (migration 9 explains the rules).
     */
    claim: `
SELECT position, attempt, first_failure_at, headers, body
FROM ${s}.causeway_claim($1::text, $2::text, $3::text, $4::int, $5::float8, $6::text)`,
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

export interface PublishRecord {
  /** Whether another session may be listening for this destination (see migration 13). */
  listened: boolean;
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
