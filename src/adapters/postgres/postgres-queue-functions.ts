import { escapeLiteral } from 'pg';
import type { SchemaIdentity } from './postgres-identity.js';
import { LISTEN_LOCK_CLASS, QUEUE_LOCK_CLASS } from './postgres-transport-sql.js';

/**
 * Migration 9: the transport's publish and claim and the outbox's claim as server functions,
 * so each is ONE round trip (an autocommit statement) instead of BEGIN, lock, statement(s),
 * COMMIT. A single publish is latency-bound: three round trips were three times the raw INSERT.
 *
 * Why a function and not one statement: the advisory lock must be granted before the
 * statement that depends on it takes its snapshot (see `queueLock`), and under READ COMMITTED
 * a single statement's snapshot is taken before any lock inside it. A VOLATILE function takes
 * a fresh snapshot for each statement it runs, so the statements after `pg_advisory_xact_lock*`
 * see everything committed before the lock was granted, exactly as the separate statements of
 * the old transactions did. The lock keys are computed by the caller (`#lockKey`), so the
 * group creation (still a transaction with `queueLock`) and these agree on one definition.
 *
 * The text is frozen with the migration: a later change is a new migration, never an edit.
 */
export function queueFunctionsV9(id: SchemaIdentity): string {
  const s = id.quoted;
  const free = (o: string) =>
    `${o}.available_at <= clock_timestamp()
       AND (${o}.claimed_until IS NULL OR ${o}.claimed_until < clock_timestamp() OR ${o}.claimed_by = p_owner)`;
  return `
-- The log rows of a batch ({id, headers, body, key} in order) and their fan-out to the
-- destination's groups, under the destination's lock taken shared (a group's creation takes it
-- exclusive, so each message is either fanned out to the new group or copied by its backfill).
CREATE FUNCTION ${s}.causeway_publish(p_destination text, p_batch json, p_lock_key text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(${QUEUE_LOCK_CLASS}, hashtext(p_lock_key));
  WITH batch AS (
    SELECT e->>'id' AS id, e->'headers' AS headers, e->>'body' AS body, e->>'key' AS key, n
    FROM json_array_elements(p_batch) WITH ORDINALITY AS t(e, n)
  ), logged AS (
    INSERT INTO ${s}.causeway_messages (destination, id, headers, body, partition_key)
    SELECT p_destination, id, headers, body, key FROM batch ORDER BY n
    RETURNING position, partition_key
  )
  INSERT INTO ${s}.causeway_deliveries (destination, group_name, position, partition_key)
  SELECT g.destination, g.group_name, l.position, l.partition_key
  FROM logged l CROSS JOIN ${s}.causeway_consumer_groups g WHERE g.destination = p_destination;
END $fn$;

-- A consumer's claim, under its group's exclusive lock (claims of a group run one at a time,
-- so the key check sees every committed claim; SKIP LOCKED passes over rows being settled).
-- Per-key order: a keyed row waits while an earlier row of its key is leased to another
-- consumer; earlier rows leased to this consumer were handed over first, and rows waiting for
-- their retry delay do not hold the key back (see Consumer). A row still marked
-- as leased was held by a consumer that died: that delivery counts as an attempt.
CREATE FUNCTION ${s}.causeway_claim(
  p_destination text, p_group text, p_consumer text, p_limit int, p_lease_ms float8,
  p_lock_key text)
RETURNS TABLE ("position" bigint, attempt int, first_failure_at timestamptz, headers json, body text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM pg_advisory_xact_lock(${QUEUE_LOCK_CLASS}, hashtext(p_lock_key));
  RETURN QUERY
  WITH picked AS (
    SELECT d.position FROM ${s}.causeway_deliveries d
    WHERE d.destination = p_destination AND d.group_name = p_group
      AND d.available_at <= clock_timestamp()
      AND (d.locked_until IS NULL OR d.locked_until < clock_timestamp())
      AND (d.partition_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM ${s}.causeway_deliveries e
        WHERE e.destination = d.destination AND e.group_name = d.group_name
          AND e.partition_key = d.partition_key AND e.position < d.position
          AND e.locked_until >= clock_timestamp() AND e.locked_by <> p_consumer))
    ORDER BY d.position LIMIT p_limit
    FOR UPDATE SKIP LOCKED
  ), claimed AS (
    UPDATE ${s}.causeway_deliveries d
    SET locked_by = p_consumer,
        locked_until = clock_timestamp() + p_lease_ms * interval '1 millisecond',
        attempt = d.attempt + (d.locked_by IS NOT NULL)::int
    FROM picked p, ${s}.causeway_messages m
    WHERE d.destination = p_destination AND d.group_name = p_group AND d.position = p.position
      AND m.position = d.position
    RETURNING d.position, d.attempt, d.first_failure_at, m.headers, m.body
  )
  SELECT * FROM claimed;
END $fn$;

-- An outbox claim in three steps, each its own statement (a fresh snapshot each, as in the
-- transaction it replaces). 1: free unkeyed records and free heads (the oldest unsent record
-- of their key), locked FOR UPDATE SKIP LOCKED: a head another relay is claiming right now is
-- skipped, and with it its whole key; a head claimed since our snapshot fails the re-check
-- PostgreSQL runs on the row it locks, so a key is only ever taken by the relay holding its
-- head's row lock. 2: under those locks, the records following each keyed head as long as
-- they are free (a prefix, so order within the key holds), up to the batch's remaining room.
-- 3: the lease itself.
CREATE FUNCTION ${s}.causeway_outbox_claim(p_owner text, p_limit int, p_lease_ms float8)
RETURNS TABLE (sequence bigint, destination text, headers json, body text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_sequences bigint[];
  v_destinations text[];
  v_keys text[];
  v_heads bigint[];
  v_room int;
BEGIN
  SELECT array_agg(h.sequence),
         array_agg(h.destination) FILTER (WHERE h.partition_key IS NOT NULL),
         array_agg(h.partition_key) FILTER (WHERE h.partition_key IS NOT NULL),
         array_agg(h.sequence) FILTER (WHERE h.partition_key IS NOT NULL)
    INTO v_sequences, v_destinations, v_keys, v_heads
  FROM (
    SELECT o.sequence, o.destination, o.partition_key FROM ${s}.causeway_outbox o
    WHERE o.sent_at IS NULL AND ${free('o')}
      AND (o.partition_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM ${s}.causeway_outbox p
        WHERE p.destination = o.destination AND p.partition_key = o.partition_key
          AND p.sent_at IS NULL AND p.sequence < o.sequence))
    ORDER BY o.sequence LIMIT p_limit
    FOR UPDATE OF o SKIP LOCKED
  ) h;
  IF v_sequences IS NULL THEN
    RETURN;
  END IF;
  v_room := p_limit - cardinality(v_sequences);
  IF v_heads IS NOT NULL AND v_room > 0 THEN
    v_sequences := v_sequences || ARRAY(
      SELECT f.sequence FROM (
        SELECT o.sequence,
               bool_and(${free('o')})
                 OVER (PARTITION BY o.destination, o.partition_key ORDER BY o.sequence) AS clear
        FROM ${s}.causeway_outbox o
        JOIN unnest(v_destinations, v_keys, v_heads) AS h(destination, partition_key, sequence)
          ON o.destination = h.destination AND o.partition_key = h.partition_key
         AND o.sequence > h.sequence
        WHERE o.sent_at IS NULL
      ) f WHERE f.clear ORDER BY f.sequence LIMIT v_room);
  END IF;
  RETURN QUERY
  WITH leased AS (
    UPDATE ${s}.causeway_outbox o SET claimed_by = p_owner,
      claimed_until = clock_timestamp() + p_lease_ms * interval '1 millisecond'
    WHERE o.sequence = ANY(v_sequences) AND o.sent_at IS NULL
    RETURNING o.sequence, o.destination, o.headers, o.body
  )
  SELECT * FROM leased;
END $fn$;
`;
}

/**
 * Migration 10: `causeway_publish` reads its batch with `json_to_recordset`, which parses each
 * element once; `e->>'id'`, `e->'headers'`, … on a `json` value each parse the element again
 * (json is text), four times per message. A 100-message publish spent about a fifth of its
 * server time there. Same arguments, same rows, same lock.
 */
export function publishParsesOnceV10(id: SchemaIdentity): string {
  const s = id.quoted;
  return `
CREATE OR REPLACE FUNCTION ${s}.causeway_publish(p_destination text, p_batch json, p_lock_key text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(${QUEUE_LOCK_CLASS}, hashtext(p_lock_key));
  WITH logged AS (
    INSERT INTO ${s}.causeway_messages (destination, id, headers, body, partition_key)
    SELECT p_destination, b.id, b.headers, b.body, b.key
    FROM ROWS FROM (json_to_recordset(p_batch) AS (id text, headers json, body text, key text))
      WITH ORDINALITY AS b(id, headers, body, key, n)
    ORDER BY b.n
    RETURNING position, partition_key
  )
  INSERT INTO ${s}.causeway_deliveries (destination, group_name, position, partition_key)
  SELECT g.destination, g.group_name, l.position, l.partition_key
  FROM logged l CROSS JOIN ${s}.causeway_consumer_groups g WHERE g.destination = p_destination;
END $fn$;
`;
}

/**
 * Migration 12: an outbox relayed into the transport of the same schema in one statement,
 * one transaction: claim (`causeway_outbox_claim`), copy the records in their wire form into
 * the log with their fan-out, mark them sent. Nothing is published twice, and a batch costs one
 * round trip instead of three. The destinations' locks are taken shared, as a publish takes
 * them, after the claim and before the copy, so the copy's snapshot sees every group created
 * before (see `causeway_publish`); destinations are locked in name order. Returns how many
 * records went to each destination, so the caller can wake their consumers.
 */
export function outboxRelayV12(id: SchemaIdentity): string {
  const s = id.quoted;
  // The transport's lock key of a destination: "<schema> <destination>" (`#lockKey`).
  const keyPrefix = escapeLiteral(`${id.schema} `);
  return `
CREATE FUNCTION ${s}.causeway_outbox_relay(p_owner text, p_limit int, p_lease_ms float8)
RETURNS TABLE (destination text, relayed int)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_sequences bigint[];
  v_destination text;
BEGIN
  SELECT array_agg(c.sequence) INTO v_sequences
  FROM ${s}.causeway_outbox_claim(p_owner, p_limit, p_lease_ms) c;
  IF v_sequences IS NULL THEN
    RETURN;
  END IF;
  FOR v_destination IN
    SELECT DISTINCT o.destination FROM ${s}.causeway_outbox o
    WHERE o.sequence = ANY(v_sequences) ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock_shared(${QUEUE_LOCK_CLASS}, hashtext(${keyPrefix} || v_destination));
  END LOOP;
  WITH logged AS (
    INSERT INTO ${s}.causeway_messages (destination, id, headers, body, partition_key)
    SELECT o.destination, o.message_id, o.headers, o.body, o.partition_key
    FROM ${s}.causeway_outbox o WHERE o.sequence = ANY(v_sequences)
    ORDER BY o.sequence
    RETURNING destination, position, partition_key
  )
  INSERT INTO ${s}.causeway_deliveries (destination, group_name, position, partition_key)
  SELECT g.destination, g.group_name, l.position, l.partition_key
  FROM logged l JOIN ${s}.causeway_consumer_groups g ON g.destination = l.destination;
  RETURN QUERY
  WITH sent AS (
    UPDATE ${s}.causeway_outbox o SET sent_at = clock_timestamp()
    WHERE o.sequence = ANY(v_sequences) AND o.sent_at IS NULL
    RETURNING o.destination
  )
  SELECT sent.destination, count(*)::int FROM sent GROUP BY sent.destination;
END $fn$;
`;
}

/**
 * Migration 13: publish tells the caller whether a consumer in another session may need waking,
 * so a publisher NOTIFYs only then, and a single message has its own function.
 *
 * Who listens: the LISTEN connection of every process consuming a destination holds that
 * destination's listen lock (`LISTEN_LOCK_CLASS`, the destination's lock key) as a session lock,
 * shared. A publish tries the lock exclusive for its transaction: granted means nobody listens
 * (no NOTIFY needed), refused means somebody may (or another publish holds it right now: a
 * NOTIFY too many, coalesced by the `Announcer`). No wake-up is lost: a consumer that starts
 * listening while a publish that was granted the lock is in flight waits for that publish to
 * commit, and claims after its lock is granted, so it sees the message; a publish that starts
 * after it is refused. A session that dies drops its locks, so no registry goes stale.
 *
 * `causeway_publish_one` takes one message as typed arguments: no batch JSON to build, escape
 * and parse again for the common single publish. `causeway_publish_batch` is migration 10's
 * `causeway_publish` plus the answer. Migration 10's function stays for processes of the
 * previous version during a rolling upgrade (those always NOTIFY). The other way round does
 * not hold: a consumer of the previous version takes no listen lock, so new publishers skip
 * its NOTIFY and it sees their messages at its poll — upgrade consumers before publishers.
 */
export function publishTellsListenersV13(id: SchemaIdentity): string {
  const s = id.quoted;
  const locks = `
  PERFORM pg_advisory_xact_lock_shared(${QUEUE_LOCK_CLASS}, hashtext(p_lock_key));
  v_listened := NOT pg_try_advisory_xact_lock(${LISTEN_LOCK_CLASS}, hashtext(p_lock_key));`;
  const fanOut = `
  INSERT INTO ${s}.causeway_deliveries (destination, group_name, position, partition_key)
  SELECT g.destination, g.group_name, l.position, l.partition_key
  FROM logged l CROSS JOIN ${s}.causeway_consumer_groups g WHERE g.destination = p_destination;
  RETURN v_listened;`;
  return `
CREATE FUNCTION ${s}.causeway_publish_one(
  p_destination text, p_id text, p_headers json, p_body text, p_key text, p_lock_key text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
  v_listened boolean;
BEGIN${locks}
  WITH logged AS (
    INSERT INTO ${s}.causeway_messages (destination, id, headers, body, partition_key)
    VALUES (p_destination, p_id, p_headers, p_body, p_key)
    RETURNING position, partition_key
  )${fanOut}
END $fn$;

CREATE FUNCTION ${s}.causeway_publish_batch(p_destination text, p_batch json, p_lock_key text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
  v_listened boolean;
BEGIN${locks}
  WITH logged AS (
    INSERT INTO ${s}.causeway_messages (destination, id, headers, body, partition_key)
    SELECT p_destination, b.id, b.headers, b.body, b.key
    FROM ROWS FROM (json_to_recordset(p_batch) AS (id text, headers json, body text, key text))
      WITH ORDINALITY AS b(id, headers, body, key, n)
    ORDER BY b.n
    RETURNING position, partition_key
  )${fanOut}
END $fn$;
`;
}
