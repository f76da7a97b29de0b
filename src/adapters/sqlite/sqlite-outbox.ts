import type { Statement } from 'better-sqlite3';
import { decodeBinary, encodeBinary } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import type { OutboxBacklog, OutboxRecord, OutboxStore } from '../../messaging/outbox.js';
import { HEADER_PREFIX } from '../sql/queue-consumer.js';
import { addressOf, ensureSchema, toStoreError, type SqliteDatabase } from './sqlite-schema.js';
import {
  gateFor,
  isSqliteTransaction,
  runOnFile,
  type SqliteFileGate,
  type SqliteTransaction,
} from './sqlite-transaction.js';

interface RawRecord {
  sequence: number;
  destination: string;
  headers: string;
  body: string;
}

type Insert = Statement<[string, string, string | null, string, string, number]>;

/** The insert, prepared once per connection (writes may come through the application's own). */
const inserts = new WeakMap<SqliteDatabase, Insert>();

function insertFor(db: SqliteDatabase): Insert {
  let insert = inserts.get(db);
  if (!insert) {
    insert = db.prepare(
      `INSERT INTO causeway_outbox (destination, message_id, partition_key, headers, body, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    inserts.set(db, insert);
  }
  return insert;
}

interface Wake {
  listeners: Set<() => void>;
  scheduled: boolean;
}

/** Relays listening per file, so a write through any connection of this process wakes them. */
const wakes = new WeakMap<SqliteFileGate, Wake>();

function wakeFor(db: SqliteDatabase): Wake {
  const gate = gateFor(db);
  let wake = wakes.get(gate);
  if (!wake) wakes.set(gate, (wake = { listeners: new Set(), scheduled: false }));
  return wake;
}

/**
 * Adds outbox messages through `transaction` (see `SqliteOutboxStore.write`); also what the
 * event store's `outbox` option writes with.
 */
export function writeOutbox(
  transaction: SqliteTransaction | SqliteDatabase,
  destination: string,
  messages: readonly Message[],
): void {
  const db = isSqliteTransaction(transaction) ? transaction.database : transaction;
  if (isSqliteTransaction(transaction)) transaction.assertOpen();
  // Refuses a write that would land inside (or wait for) another task's open transaction.
  gateFor(db).assertSyncWrite(db);
  const insert = insertFor(db);
  const now = Date.now();
  try {
    for (const message of messages) {
      const wire = encodeBinary(message, HEADER_PREFIX);
      insert.run(
        destination,
        message.id,
        message.partitionkey ?? null,
        JSON.stringify(wire.headers),
        wire.body,
        now,
      );
    }
  } catch (error) {
    throw toStoreError(error, addressOf(db.name));
  }
  const wake = wakeFor(db);
  if (wake.scheduled || wake.listeners.size === 0) return;
  wake.scheduled = true;
  setImmediate(() => {
    wake.scheduled = false;
    for (const listener of [...wake.listeners]) listener();
  });
}

/**
 * A transactional outbox in the SQLite file. `write` adds messages inside the caller's own
 * transaction (the handle the event store, the inbox or a projection gives you, or the
 * connection inside your `db.transaction(…)`), so they commit or vanish with the change they
 * announce. An `OutboxRelay` then publishes what committed.
 *
 * Claims are leases (`claimed_by`, `claimed_until`) taken inside `BEGIN IMMEDIATE`: SQLite
 * has one writer at a time, across processes too, so every claim sees every earlier one and
 * several relays never take the same row while its lease lives.
 */
export class SqliteOutboxStore implements OutboxStore {
  readonly #db: SqliteDatabase;
  readonly #statements;

  constructor(database: SqliteDatabase) {
    this.#db = database;
    ensureSchema(database);
    this.#statements = prepare(database);
  }

  /**
   * Adds `messages` for `destination` in the transaction `transaction` belongs to: a
   * `SqliteTransaction` handle, or a connection whose `db.transaction(…)` is running. Nothing
   * is visible to a relay until that transaction commits; a rollback takes the rows with it.
   * Synchronous, like every better-sqlite3 statement.
   */
  write(
    transaction: SqliteTransaction | SqliteDatabase,
    destination: string,
    messages: readonly Message[],
  ): void {
    writeOutbox(transaction, destination, messages);
  }

  async claim(owner: string, limit: number, leaseMs: number): Promise<OutboxRecord[]> {
    const rows = await this.#run(() => {
      const now = Date.now();
      return this.#statements.claim.immediate({
        owner,
        now,
        until: now + leaseMs,
        limit,
        window: Math.max(limit * CLAIM_WINDOW_FACTOR, MIN_CLAIM_WINDOW),
      });
    });
    return rows.sort((a, b) => a.sequence - b.sequence).map(toRecord);
  }

  async markSent(owner: string, sequences: readonly number[]): Promise<void> {
    await this.#run(() =>
      this.#statements.markSent.run({
        owner,
        now: Date.now(),
        sequences: JSON.stringify(sequences),
      }),
    );
  }

  async release(owner: string, sequences: readonly number[], delayMs: number): Promise<void> {
    await this.#run(() =>
      this.#statements.release.run({
        owner,
        availableAt: Date.now() + delayMs,
        sequences: JSON.stringify(sequences),
      }),
    );
  }

  async cleanup(olderThan: Date): Promise<number> {
    return this.#run(() => this.#statements.cleanup.run(olderThan.getTime()).changes);
  }

  /** How many records wait to be published (for operators and tests). */
  async pending(): Promise<number> {
    return this.#run(() => this.#statements.pending.get() ?? 0, 'read');
  }

  async backlog(): Promise<OutboxBacklog[]> {
    const rows = await this.#run(() => this.#statements.backlog.all(), 'read');
    return rows.map((row) => ({
      destination: row.destination,
      pending: row.pending,
      oldestCreatedAt: new Date(row.oldest),
    }));
  }

  /**
   * Wakes `listener` after each write to this file from this process (through any store or
   * the event store's outbox option). SQLite cannot announce commits, so the wake comes on
   * the next turn of the event loop: a synchronous transaction has committed by then, and an
   * async one holds the file's gate, which the relay's claim waits for. Writes from other
   * processes are found by the relay's poll.
   */
  onWrite(listener: () => void): () => void {
    const listeners = wakeFor(this.#db).listeners;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  #run<T>(work: () => T, access: 'read' | 'write' = 'write'): Promise<T> {
    return runOnFile(this.#db, access, work);
  }
}

/**
 * How far past its batch a claim looks. Other relays' claims and keys waiting behind a record
 * held elsewhere sit at the head of the backlog; a window many batches deep still finds free
 * work behind them, while keeping each claim's sort small.
 */
const CLAIM_WINDOW_FACTOR = 50;
const MIN_CLAIM_WINDOW = 5_000;

interface ClaimParameters {
  owner: string;
  now: number;
  until: number;
  limit: number;
  window: number;
}

function prepare(db: SqliteDatabase) {
  const held = `claimed_by = @owner AND sent_at IS NULL
    AND sequence IN (SELECT value FROM json_each(@sequences))`;
  // A record is free when it is due and unleased (or its lease ran out, or it is ours). A keyed
  // record is claimable only if every older unsent record of its key is free too: the prefix
  // minimum of `free` over the key, in sequence order. The scan covers only the oldest
  // `@window` unsent rows: a prefix of the sequence order holds every older record of each key
  // in it, so the check stays exact, and a claim costs the same with 100 or 100,000 rows
  // waiting (sorting the whole backlog made draining one after an outage quadratic).
  const pick = db.prepare<[ClaimParameters]>(
    `UPDATE causeway_outbox SET claimed_by = @owner, claimed_until = @until
     WHERE sequence IN (
       SELECT sequence FROM (
         SELECT sequence, partition_key, free,
                min(free) OVER (PARTITION BY destination, partition_key ORDER BY sequence) AS clear
         FROM (
           SELECT sequence, destination, partition_key,
                  (available_at <= @now AND (claimed_by IS NULL OR claimed_until < @now
                   OR claimed_by = @owner)) AS free
           FROM causeway_outbox WHERE sent_at IS NULL ORDER BY sequence LIMIT @window
         )
       )
       WHERE free AND (partition_key IS NULL OR clear) ORDER BY sequence LIMIT @limit
     )
     RETURNING sequence, destination, headers, body`,
  );
  return {
    claim: db.transaction((params: ClaimParameters) => pick.all(params) as RawRecord[]),
    markSent: db.prepare<[{ owner: string; now: number; sequences: string }]>(
      `UPDATE causeway_outbox SET sent_at = @now WHERE ${held}`,
    ),
    release: db.prepare<[{ owner: string; availableAt: number; sequences: string }]>(
      `UPDATE causeway_outbox SET claimed_by = NULL, claimed_until = NULL, available_at = @availableAt
       WHERE ${held}`,
    ),
    cleanup: db.prepare<[number]>(
      'DELETE FROM causeway_outbox WHERE sent_at IS NOT NULL AND sent_at < ?',
    ),
    pending: db
      .prepare<[], number>('SELECT count(*) FROM causeway_outbox WHERE sent_at IS NULL')
      .pluck(),
    backlog: db.prepare<[], { destination: string; pending: number; oldest: number }>(
      `SELECT destination, count(*) AS pending, min(created_at) AS oldest FROM causeway_outbox
       WHERE sent_at IS NULL GROUP BY destination ORDER BY destination`,
    ),
  };
}

function toRecord(row: RawRecord): OutboxRecord {
  return {
    sequence: row.sequence,
    destination: row.destination,
    message: decodeBinary(
      { headers: JSON.parse(row.headers) as Record<string, string>, body: row.body },
      HEADER_PREFIX,
    ),
  };
}
