/**
 * The SQLite schema's steps, kept as data apart from the code that applies them (`migrate` in
 * `sqlite-schema.ts`): this list only ever grows, by one step per schema change, while how a
 * file is opened, migrated and its errors typed stays put. PostgreSQL splits the same way
 * (`postgres-sql.ts` / `postgres-schema.ts`).
 */

/** One step of the schema: `sql` runs once, in the transaction that records `version`. */
export interface SqliteMigration {
  version: number;
  sql: string;
}

/**
 * Ordered, append-only list of schema steps. A later issue adds a step with the next
 * `version`; never edit a step that has shipped, because files in the field already ran it.
 */
export const MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE causeway_streams (
        stream_id  TEXT PRIMARY KEY,
        version    INTEGER NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('active', 'soft_deleted', 'tombstoned')),
        metadata   TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER,
        updated_at INTEGER
      );
      -- AUTOINCREMENT so a position freed by a tombstone at the tail is never handed out again.
      CREATE TABLE causeway_events (
        global_position INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        stream_id       TEXT NOT NULL,
        stream_version  INTEGER NOT NULL,
        type            TEXT NOT NULL,
        source          TEXT NOT NULL,
        subject         TEXT NOT NULL,
        time            INTEGER NOT NULL,
        datacontenttype TEXT NOT NULL,
        data            TEXT NOT NULL,
        metadata        TEXT NOT NULL,
        schema_version  INTEGER NOT NULL,
        UNIQUE (stream_id, stream_version)
      );
      CREATE TABLE causeway_checkpoints (
        name       TEXT PRIMARY KEY,
        position   INTEGER NOT NULL,
        updated_at INTEGER
      );
      CREATE TABLE causeway_snapshots (
        stream_id     TEXT PRIMARY KEY,
        version       INTEGER NOT NULL,
        state_version INTEGER NOT NULL,
        state         TEXT NOT NULL,
        created_at    INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    // Projection state: the checkpoint lives beside the read-model rows so both commit in one
    // transaction. Times are epoch milliseconds, like the event store's.
    sql: `
      CREATE TABLE causeway_projections (
        name             TEXT NOT NULL,
        version          INTEGER NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('building', 'active', 'retired')),
        paused           INTEGER NOT NULL DEFAULT 0,
        position         INTEGER NOT NULL DEFAULT 0,
        lease_owner      TEXT,
        lease_expires_at INTEGER,
        error            TEXT,
        updated_at       INTEGER NOT NULL,
        PRIMARY KEY (name, version)
      );
    `,
  },
  {
    version: 3,
    // The SQL transport: a destination's log, one delivery row per message and group (deleted
    // once settled), the groups that exist, and dead letters. Times are epoch milliseconds.
    sql: `
      CREATE TABLE causeway_messages (
        position      INTEGER PRIMARY KEY AUTOINCREMENT,
        destination   TEXT NOT NULL,
        id            TEXT,
        headers       TEXT NOT NULL,
        body          TEXT NOT NULL,
        partition_key TEXT,
        created_at    INTEGER NOT NULL
      );
      CREATE INDEX causeway_messages_log ON causeway_messages (destination, position);
      CREATE TABLE causeway_consumer_groups (
        destination TEXT NOT NULL,
        group_name  TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (destination, group_name)
      );
      CREATE TABLE causeway_deliveries (
        destination      TEXT NOT NULL,
        group_name       TEXT NOT NULL,
        position         INTEGER NOT NULL,
        partition_key    TEXT,
        attempt          INTEGER NOT NULL DEFAULT 1,
        available_at     INTEGER NOT NULL,
        locked_by        TEXT,
        locked_until     INTEGER,
        first_failure_at INTEGER,
        PRIMARY KEY (destination, group_name, position)
      );
      CREATE INDEX causeway_deliveries_by_key
        ON causeway_deliveries (destination, group_name, partition_key, position);
      CREATE TABLE causeway_dead_letters (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id  TEXT,
        destination TEXT NOT NULL,
        group_name  TEXT NOT NULL,
        headers     TEXT NOT NULL,
        body        TEXT NOT NULL,
        failure     TEXT NOT NULL,
        created_at  INTEGER NOT NULL
      );
      CREATE INDEX causeway_dead_letters_by_destination ON causeway_dead_letters (destination, id);
    `,
  },
  {
    version: 4,
    // Outbox, inbox and idempotency keys. An outbox row is unsent while `sent_at` is NULL and
    // claimed while `claimed_until` lies ahead; the partial indexes keep the relay's scans to
    // the unsent rows. Times are epoch milliseconds.
    sql: `
      CREATE TABLE causeway_outbox (
        sequence      INTEGER PRIMARY KEY AUTOINCREMENT,
        destination   TEXT NOT NULL,
        message_id    TEXT NOT NULL,
        partition_key TEXT,
        headers       TEXT NOT NULL,
        body          TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        available_at  INTEGER NOT NULL DEFAULT 0,
        claimed_by    TEXT,
        claimed_until INTEGER,
        sent_at       INTEGER
      );
      CREATE INDEX causeway_outbox_unsent ON causeway_outbox (sequence) WHERE sent_at IS NULL;
      CREATE INDEX causeway_outbox_sent ON causeway_outbox (sent_at) WHERE sent_at IS NOT NULL;
      CREATE TABLE causeway_inbox (
        group_name   TEXT NOT NULL,
        message_id   TEXT NOT NULL,
        processed_at INTEGER NOT NULL,
        PRIMARY KEY (group_name, message_id)
      );
      CREATE INDEX causeway_inbox_by_time ON causeway_inbox (processed_at);
      CREATE TABLE causeway_idempotency (
        key              TEXT PRIMARY KEY,
        status           TEXT NOT NULL CHECK (status IN ('claimed', 'completed')),
        token            TEXT NOT NULL,
        lease_expires_at INTEGER NOT NULL,
        result           TEXT,
        expires_at       INTEGER
      );
    `,
  },
  {
    version: 5,
    // Saga instances (see src/adapters/sql/saga-rows.ts for the layout). Writes are fenced on
    // `version` and the lease; `causeway_sagas_resumable` holds only active instances, so the
    // runtimes' claim scans stay small however many finished instances accumulate.
    sql: `
      CREATE TABLE causeway_sagas (
        id                 TEXT PRIMARY KEY,
        name               TEXT NOT NULL,
        status             TEXT NOT NULL CHECK (status IN
                             ('running', 'compensating', 'completed', 'failed', 'compensation_failed')),
        version            INTEGER NOT NULL,
        current_step       TEXT,
        attempt            INTEGER NOT NULL,
        data               TEXT NOT NULL,
        state              TEXT NOT NULL,
        history            TEXT NOT NULL,
        lease_owner        TEXT,
        lease_expires_at   INTEGER,
        abort_requested_at INTEGER,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        ended_at           INTEGER
      );
      CREATE INDEX causeway_sagas_by_status ON causeway_sagas (status, id);
      CREATE INDEX causeway_sagas_by_name ON causeway_sagas (name, status, id);
      CREATE INDEX causeway_sagas_resumable ON causeway_sagas (name, created_at, id)
        WHERE status IN ('running', 'compensating');
    `,
  },
  {
    version: 6,
    // Durable timers and process manager instances. One pending timer per (scope, key, name):
    // the partial unique index lets fired rows stay as the record of a firing. The due index
    // holds only unfired timers, so the schedulers' claim scans stay small.
    sql: `
      CREATE TABLE causeway_timers (
        id               TEXT PRIMARY KEY,
        scope            TEXT NOT NULL,
        key              TEXT NOT NULL,
        name             TEXT NOT NULL,
        due_at           INTEGER NOT NULL,
        payload          TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        lease_owner      TEXT,
        lease_expires_at INTEGER,
        fired_at         INTEGER,
        attempts         INTEGER NOT NULL DEFAULT 0
      );
      CREATE UNIQUE INDEX causeway_timers_pending ON causeway_timers (scope, key, name)
        WHERE fired_at IS NULL;
      CREATE INDEX causeway_timers_due ON causeway_timers (due_at, id) WHERE fired_at IS NULL;
      CREATE TABLE causeway_process_instances (
        manager      TEXT NOT NULL,
        key          TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('active', 'completed')),
        state        TEXT NOT NULL,
        version      INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        completed_at INTEGER,
        PRIMARY KEY (manager, key)
      );
    `,
  },
  {
    version: 7,
    // Stream processing state, per scope (a task or one partition of it): who holds the scope
    // (the generation fences a stale process), source positions, key-value and window
    // entries, operators' stream times, and outputs waiting for their sink. Everything of
    // one commit is written in one transaction.
    sql: `
      CREATE TABLE causeway_stream_scopes (
        scope            TEXT PRIMARY KEY,
        owner            TEXT,
        generation       INTEGER NOT NULL,
        lease_expires_at INTEGER,
        updated_at       INTEGER NOT NULL
      );
      CREATE TABLE causeway_stream_positions (
        scope    TEXT NOT NULL,
        source   TEXT NOT NULL,
        position TEXT NOT NULL,
        PRIMARY KEY (scope, source)
      ) WITHOUT ROWID;
      CREATE TABLE causeway_stream_entries (
        scope  TEXT NOT NULL,
        store  TEXT NOT NULL,
        key_id TEXT NOT NULL,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (scope, store, key_id)
      ) WITHOUT ROWID;
      CREATE TABLE causeway_stream_windows (
        scope        TEXT NOT NULL,
        store        TEXT NOT NULL,
        key_id       TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        window_end   INTEGER NOT NULL,
        key          TEXT NOT NULL,
        value        TEXT NOT NULL,
        PRIMARY KEY (scope, store, key_id, window_start, window_end)
      ) WITHOUT ROWID;
      CREATE TABLE causeway_stream_times (
        scope       TEXT NOT NULL,
        store       TEXT NOT NULL,
        stream_time REAL NOT NULL,
        PRIMARY KEY (scope, store)
      ) WITHOUT ROWID;
      CREATE TABLE causeway_stream_outbox (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        scope  TEXT NOT NULL,
        id     TEXT NOT NULL,
        sink   TEXT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (scope, id)
      );
    `,
  },
  {
    version: 8,
    // Fewer pages per publish (each one is written to the WAL and fsynced with the commit):
    // delivery rows live in their primary key (WITHOUT ROWID: one b-tree instead of a rowid
    // table plus its key index), and the per-key index holds only keyed rows, the only ones
    // the per-key order check looks up. An unkeyed publish now touches two b-trees of the
    // delivery table fewer.
    sql: `
      CREATE TABLE causeway_deliveries_v8 (
        destination      TEXT NOT NULL,
        group_name       TEXT NOT NULL,
        position         INTEGER NOT NULL,
        partition_key    TEXT,
        attempt          INTEGER NOT NULL DEFAULT 1,
        available_at     INTEGER NOT NULL,
        locked_by        TEXT,
        locked_until     INTEGER,
        first_failure_at INTEGER,
        PRIMARY KEY (destination, group_name, position)
      ) WITHOUT ROWID;
      INSERT INTO causeway_deliveries_v8
        SELECT destination, group_name, position, partition_key, attempt, available_at,
               locked_by, locked_until, first_failure_at
        FROM causeway_deliveries;
      DROP TABLE causeway_deliveries;
      ALTER TABLE causeway_deliveries_v8 RENAME TO causeway_deliveries;
      CREATE INDEX causeway_deliveries_by_key
        ON causeway_deliveries (destination, group_name, partition_key, position)
        WHERE partition_key IS NOT NULL;
    `,
  },
];
