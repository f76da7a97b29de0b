import type { SchemaIdentity } from './postgres-identity.js';

/**
 * Migration 6: the outbox, the inbox and idempotency keys. Times come from the database clock
 * (`clock_timestamp()`), so relays and callers on different hosts agree on leases.
 */
export function messagingTablesV6(id: SchemaIdentity): string {
  const s = id.quoted;
  return `
CREATE TABLE ${s}.causeway_outbox (
  sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  destination text NOT NULL,
  message_id text NOT NULL,
  partition_key text,
  headers json NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  available_at timestamptz NOT NULL DEFAULT '-infinity',
  claimed_by text,
  claimed_until timestamptz,
  sent_at timestamptz
);
CREATE INDEX causeway_outbox_unsent ON ${s}.causeway_outbox (sequence) WHERE sent_at IS NULL;
CREATE INDEX causeway_outbox_unsent_by_key
  ON ${s}.causeway_outbox (destination, partition_key, sequence)
  WHERE sent_at IS NULL AND partition_key IS NOT NULL;
CREATE INDEX causeway_outbox_sent ON ${s}.causeway_outbox (sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE ${s}.causeway_inbox (
  group_name text NOT NULL,
  message_id text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_name, message_id)
);
CREATE INDEX causeway_inbox_by_time ON ${s}.causeway_inbox (processed_at);

CREATE TABLE ${s}.causeway_idempotency (
  key text PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('claimed', 'completed')),
  token text NOT NULL,
  lease_expires_at timestamptz NOT NULL,
  result text,
  expires_at timestamptz
);
`;
}

/** The channel relays LISTEN on for committed outbox writes. */
export function outboxChannel(id: SchemaIdentity): string {
  return `${id.statementPrefix}outbox`;
}

const statements = new WeakMap<SchemaIdentity, ReturnType<typeof buildOutboxStatements>>();

/** The outbox statements, per schema (built once). `$n` parameters are listed beside each. */
export function outboxStatements(id: SchemaIdentity): ReturnType<typeof buildOutboxStatements> {
  let built = statements.get(id);
  if (!built) statements.set(id, (built = buildOutboxStatements(id)));
  return built;
}

function buildOutboxStatements(id: SchemaIdentity) {
  const t = `${id.quoted}.causeway_outbox`;
  const free = (o: string) =>
    `${o}.available_at <= clock_timestamp()
     AND (${o}.claimed_until IS NULL OR ${o}.claimed_until < clock_timestamp() OR ${o}.claimed_by = $1)`;
  const insert = `
INSERT INTO ${t} (destination, message_id, partition_key, headers, body)
SELECT $1::text, e->>'id', e->>'key', e->'headers', e->>'body'
FROM json_array_elements($2::json) WITH ORDINALITY AS b(e, n) ORDER BY n`;
  return {
    /**
     * $1 destination, $2 json array of {id, key, headers, body}, in order, $3 channel. The
     * NOTIFY is queued in the caller's transaction, so it goes out on commit and never on
     * rollback.
     */
    write: `
WITH written AS (${insert} RETURNING 1)
SELECT pg_notify($3, '') FROM (SELECT count(*) FROM written) AS w`,
    /** $1 destination, $2 messages as for `write`: for writers that announce after commit. */
    insert,
    /**
     * $1 owner, $2 limit. Step 1 of a claim: free unkeyed records and free *heads* (the oldest
     * unsent record of their key), locked FOR UPDATE SKIP LOCKED. A head another relay is
     * claiming right now is skipped, and with it its whole key; a head another relay claimed
     * since our snapshot fails the re-check PostgreSQL runs on the row it locks. So a key is
     * only ever taken by the relay holding its head's row lock, whatever the snapshots say.
     */
    heads: `
SELECT o.sequence, o.destination, o.partition_key FROM ${t} o
WHERE o.sent_at IS NULL AND ${free('o')}
  AND (o.partition_key IS NULL OR NOT EXISTS (
    SELECT 1 FROM ${t} p
    WHERE p.destination = o.destination AND p.partition_key = o.partition_key
      AND p.sent_at IS NULL AND p.sequence < o.sequence))
ORDER BY o.sequence LIMIT $2
FOR UPDATE OF o SKIP LOCKED`,
    /**
     * $1 owner, $2 destinations, $3 keys, $4 head sequences, $5 limit. Step 2, under the heads'
     * row locks: the records following each head, as long as they are free (a prefix, so
     * order within the key holds), up to the batch's remaining room.
     */
    followers: `
SELECT sequence FROM (
  SELECT o.sequence,
         bool_and(${free('o')}) OVER (PARTITION BY o.destination, o.partition_key ORDER BY o.sequence) AS clear
  FROM ${t} o
  JOIN unnest($2::text[], $3::text[], $4::bigint[]) AS h(destination, partition_key, sequence)
    ON o.destination = h.destination AND o.partition_key = h.partition_key AND o.sequence > h.sequence
  WHERE o.sent_at IS NULL
) f WHERE clear ORDER BY sequence LIMIT $5`,
    /** $1 owner, $2 sequences, $3 lease ms. Step 3: the lease itself. */
    lease: `
UPDATE ${t} SET claimed_by = $1,
  claimed_until = clock_timestamp() + $3::float8 * interval '1 millisecond'
WHERE sequence = ANY($2::bigint[]) AND sent_at IS NULL
RETURNING sequence, destination, headers, body`,
    /** $1 owner, $2 sequences. */
    markSent: `
UPDATE ${t} SET sent_at = clock_timestamp()
WHERE sequence = ANY($2::bigint[]) AND claimed_by = $1 AND sent_at IS NULL`,
    /** $1 owner, $2 sequences, $3 delay ms. */
    release: `
UPDATE ${t} SET claimed_by = NULL, claimed_until = NULL,
  available_at = clock_timestamp() + $3::float8 * interval '1 millisecond'
WHERE sequence = ANY($2::bigint[]) AND claimed_by = $1 AND sent_at IS NULL`,
    /** $1 older than. */
    cleanup: `DELETE FROM ${t} WHERE sent_at < $1`,
    pending: `SELECT count(*)::int AS n FROM ${t} WHERE sent_at IS NULL`,
  };
}

export interface OutboxRow {
  /** int8 arrives as a string. */
  sequence: string;
  destination: string;
  headers: Record<string, string>;
  body: string;
}
