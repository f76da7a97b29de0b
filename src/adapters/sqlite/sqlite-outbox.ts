import type { Statement } from 'better-sqlite3';
import { decodeBinary, encodeBinary } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import type { OutboxBacklog, OutboxRecord, OutboxStore } from '../../messaging/outbox.js';
import type { TransportDriver } from '../../messaging/transport.js';
import { StoreClosedError } from '../../core/errors.js';
import { HEADER_PREFIX } from '../sql/queue-consumer.js';
import { addressOf, ensureSchema, toStoreError, type SqliteDatabase } from './sqlite-schema.js';
import {
  gateFor,
  isSqliteTransaction,
  runOnFile,
  type SqliteFileGate,
  type SqliteTransaction,
} from './sqlite-transaction.js';
import { fanOutStatement, SqliteTransportDriver } from './sqlite-transport.js';

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
    const rows = await this.#run(() => this.#statements.claim.immediate(owner, limit, leaseMs));
    return rows.map(toRecord);
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

  /**
   * When `driver` is a `SqliteTransportDriver` on this same file, moves up to `limit` records
   * into its queue tables in one immediate transaction: picked as `claim` would pick them,
   * copied as they were written (the outbox already holds them in the transport's binary
   * encoding), fanned out to the destinations' groups and marked sent, all in one commit.
   * Resolves with `undefined` for any other driver (the relay then publishes through it).
   */
  async relayInto(
    driver: TransportDriver,
    owner: string,
    limit: number,
  ): Promise<number | undefined> {
    if (!(driver instanceof SqliteTransportDriver)) return undefined;
    if (gateFor(driver.database) !== gateFor(this.#db)) return undefined;
    if (driver.closed) throw new StoreClosedError();
    const destinations = await this.#run(() => this.#statements.relay.immediate(owner, limit));
    let relayed = 0;
    for (const [destination, count] of destinations) {
      driver.announce(destination);
      relayed += count;
    }
    return relayed;
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
 * work behind them, while a claim costs the same with 100 or 100,000 rows waiting (draining a
 * backlog after an outage must not be quadratic).
 */
const CLAIM_WINDOW_FACTOR = 50;
const MIN_CLAIM_WINDOW = 5_000;

interface Candidate {
  sequence: number;
  destination: string;
  partitionKey: string | null;
  free: number;
}

function prepare(db: SqliteDatabase) {
  const held = `claimed_by = @owner AND sent_at IS NULL
    AND sequence IN (SELECT value FROM json_each(@sequences))`;
  // Unsent records oldest first (the partial index), each with whether it is free: due and
  // unleased, or its lease ran out, or it is ours.
  const candidates = db.prepare<[{ owner: string; now: number; window: number }], Candidate>(
    `SELECT sequence, destination, partition_key AS partitionKey,
            (available_at <= @now AND (claimed_by IS NULL OR claimed_until < @now
             OR claimed_by = @owner)) AS free
     FROM causeway_outbox WHERE sent_at IS NULL ORDER BY sequence LIMIT @window`,
  );
  const take = db.prepare<[{ owner: string; until: number; sequences: string }], RawRecord>(
    `UPDATE causeway_outbox SET claimed_by = @owner, claimed_until = @until
     WHERE sequence IN (SELECT value FROM json_each(@sequences))
     RETURNING sequence, destination, headers, body`,
  );
  // A keyed record is claimable only if every older unsent record of its key is free too. The
  // scan walks the backlog in sequence order and stops as soon as the batch is full, so a
  // claim reads about `limit` rows when nothing blocks the head (the usual case) and at most
  // the window otherwise; a prefix of the sequence order holds every older record of each key
  // in it, so the check stays exact. It runs inside the claim's immediate transaction: no
  // other writer (in any process) can claim in between.
  const pick = (owner: string, limit: number, now: number): Candidate[] => {
    const window = Math.max(limit * CLAIM_WINDOW_FACTOR, MIN_CLAIM_WINDOW);
    const picked: Candidate[] = [];
    const blocked = new Set<string>();
    for (const row of candidates.iterate({ owner, now, window })) {
      const key =
        row.partitionKey === null ? undefined : `${row.destination}\u0000${row.partitionKey}`;
      if (key !== undefined && blocked.has(key)) continue;
      if (!row.free) {
        if (key !== undefined) blocked.add(key);
        continue;
      }
      picked.push(row);
      if (picked.length >= limit) break;
    }
    return picked;
  };
  const sequencesOf = (rows: readonly Candidate[]) => JSON.stringify(rows.map((r) => r.sequence));
  const claim = (owner: string, limit: number, leaseMs: number): RawRecord[] => {
    const now = Date.now();
    const picked = pick(owner, limit, now);
    if (picked.length === 0) return [];
    const rows = take.all({ owner, until: now + leaseMs, sequences: sequencesOf(picked) });
    return rows.sort((a, b) => a.sequence - b.sequence);
  };
  // The direct relay into the transport's tables of the same file: the rows are copied in
  // sequence order (so positions keep the outbox's order), each gets a delivery row per group
  // of its destination, and the records are marked sent — one commit. Positions only grow and
  // the transaction holds the write lock, so every message after `after` is one copied here.
  const lastPosition = db
    .prepare<[], number>('SELECT coalesce(max(position), 0) FROM causeway_messages')
    .pluck();
  const copy = db.prepare<[{ now: number; sequences: string }]>(
    `INSERT INTO causeway_messages (destination, id, headers, body, partition_key, created_at)
     SELECT destination, message_id, headers, body, partition_key, @now FROM causeway_outbox
     WHERE sequence IN (SELECT value FROM json_each(@sequences)) ORDER BY sequence`,
  );
  const fanOut = fanOutStatement(db);
  const sent = db.prepare<[{ owner: string; now: number; sequences: string }]>(
    `UPDATE causeway_outbox SET claimed_by = @owner, sent_at = @now
     WHERE sequence IN (SELECT value FROM json_each(@sequences))`,
  );
  const relay = (owner: string, limit: number): Map<string, number> => {
    const now = Date.now();
    const picked = pick(owner, limit, now);
    const destinations = new Map<string, number>();
    if (picked.length === 0) return destinations;
    const sequences = sequencesOf(picked);
    const after = lastPosition.get() ?? 0;
    copy.run({ now, sequences });
    fanOut.run({ now, after });
    sent.run({ owner, now, sequences });
    for (const row of picked)
      destinations.set(row.destination, (destinations.get(row.destination) ?? 0) + 1);
    return destinations;
  };
  return {
    claim: db.transaction(claim),
    relay: db.transaction(relay),
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
