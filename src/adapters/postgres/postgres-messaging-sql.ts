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
  // json_to_recordset parses each element once; `e->>'id'` and the like on json (text)
  // would parse it again for every field.
  const insert = `
INSERT INTO ${t} (destination, message_id, partition_key, headers, body)
SELECT $1::text, b.id, b.key, b.headers, b.body
FROM ROWS FROM (json_to_recordset($2::json) AS (id text, key text, headers json, body text))
  WITH ORDINALITY AS b(id, key, headers, body, n)
ORDER BY b.n`;
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
     * $1 owner, $2 limit, $3 lease ms: claims up to $2 records, per-key order kept, several
     * relays never taking the same record (migration 9's `causeway_outbox_claim` tells how).
     */
    claim: `
SELECT sequence, destination, headers, body
FROM ${id.quoted}.causeway_outbox_claim($1::text, $2::int, $3::float8)`,
    /** $1 owner, $2 limit, $3 lease ms: claim, copy into the transport, mark sent (migration 12). */
    relay: `
SELECT destination, relayed
FROM ${id.quoted}.causeway_outbox_relay($1::text, $2::int, $3::float8)`,
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
    backlog: `
SELECT destination, count(*)::int AS pending, min(created_at) AS oldest FROM ${t}
WHERE sent_at IS NULL GROUP BY destination ORDER BY destination`,
  };
}

export interface OutboxRow {
  /** int8 arrives as a string. */
  sequence: string;
  destination: string;
  headers: Record<string, string>;
  body: string;
}
