import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { StoreClosedError, ValidationError } from '../../core/errors.js';
import { encodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo, Message } from '../../messaging/message.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from '../../messaging/transport.js';
import {
  HEADER_PREFIX,
  parseFailure,
  QueueHub,
  type ClaimedRow,
  type Lease,
  type QueueStore,
  type SqlDeadLetter,
} from '../sql/queue-consumer.js';
import { openSqliteDatabase, prepareDatabase, type SqliteDatabase } from './sqlite-schema.js';
import { gateFor, type SqliteFileGate } from './sqlite-transaction.js';
import { SqliteDeadLetterStore } from './sqlite-dead-letters.js';
import { SqliteGroupCommit } from './sqlite-group-commit.js';

export interface SqliteTransportOptions {
  /** The database file, created if missing. Default `./causeway.db`. */
  filename?: string;
  /** An open connection to use instead of `filename`; the transport never closes it. */
  database?: SqliteDatabase;
  /** How often consumers look for messages other processes published. Default 100 ms. */
  pollIntervalMs?: number;
  /** How long a claimed message stays with a consumer that stopped renewing it. Default 30 s. */
  leaseMs?: number;
}

interface RawClaim {
  position: number;
  attempt: number;
  firstFailureAt: number | null;
  headers: string;
  body: string;
}

interface RawDeadLetter {
  id: number;
  destination: string;
  group: string;
  headers: string;
  body: string;
  failure: string;
  createdAt: number;
}

/**
 * Gives every message after position `after` a delivery row per group of its destination: one
 * statement per publish, not per message. The caller has just written those messages in its
 * open transaction; positions only grow and it holds the write lock, so they are the only ones
 * past `after`.
 */
export function fanOutStatement(db: SqliteDatabase): Statement<[{ now: number; after: number }]> {
  return db.prepare<[{ now: number; after: number }]>(
    `INSERT INTO causeway_deliveries (destination, group_name, position, partition_key, available_at)
     SELECT m.destination, g.group_name, m.position, m.partition_key, @now
     FROM causeway_messages m JOIN causeway_consumer_groups g ON g.destination = m.destination
     WHERE m.position > @after`,
  );
}

/** The statements of the queue tables, prepared once per connection. */
function prepare(db: SqliteDatabase) {
  const where = 'destination = ? AND group_name = ? AND position = ? AND locked_by = ?';
  return {
    insertMessage: db.prepare<[string, string | null, string, string, string | null, number]>(
      `INSERT INTO causeway_messages (destination, id, headers, body, partition_key, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    fanOut: fanOutStatement(db),
    addGroup: db.prepare<[string, string, number]>(
      `INSERT OR IGNORE INTO causeway_consumer_groups (destination, group_name, created_at)
       VALUES (?, ?, ?)`,
    ),
    // A new group starts from the beginning of the destination's log.
    backfill: db.prepare<[string, number, string]>(
      `INSERT INTO causeway_deliveries (destination, group_name, position, partition_key, available_at)
       SELECT destination, ?, position, partition_key, ? FROM causeway_messages WHERE destination = ?`,
    ),
    // Per-key order: a keyed row waits while an earlier row of its key is leased to another
    // consumer. Earlier rows leased to this consumer arrive first (they are in its lanes);
    // earlier rows waiting for their retry delay do not hold the key back (see Consumer).
    // The check reads the (partial) per-key index: without statistics the planner would walk
    // every earlier delivery of the group through the primary key instead.
    claimable: db.prepare<
      [{ d: string; g: string; c: string; now: number; limit: number }],
      RawClaim
    >(
      `SELECT d.position, d.attempt + (d.locked_by IS NOT NULL) AS attempt,
              d.first_failure_at AS firstFailureAt, m.headers, m.body
       FROM causeway_deliveries d JOIN causeway_messages m ON m.position = d.position
       WHERE d.destination = @d AND d.group_name = @g AND d.available_at <= @now
         AND (d.locked_until IS NULL OR d.locked_until < @now)
         AND (d.partition_key IS NULL OR NOT EXISTS (
           SELECT 1 FROM causeway_deliveries e INDEXED BY causeway_deliveries_by_key
           WHERE e.destination = d.destination AND e.group_name = d.group_name
             AND e.partition_key = d.partition_key AND e.position < d.position
             AND e.locked_until >= @now AND e.locked_by <> @c))
       ORDER BY d.position LIMIT @limit`,
    ),
    // A row still marked as leased was held by a consumer that died: that delivery counts as
    // an attempt, so a message that kills its consumer cannot come back forever unnoticed.
    lock: db.prepare<[string, number, string, string, number]>(
      `UPDATE causeway_deliveries
       SET locked_by = ?, locked_until = ?, attempt = attempt + (locked_by IS NOT NULL)
       WHERE destination = ? AND group_name = ? AND position = ?`,
    ),
    extend: db.prepare<[number, string, string, string, string]>(
      `UPDATE causeway_deliveries SET locked_until = ?
       WHERE destination = ? AND group_name = ? AND locked_by = ?
         AND position IN (SELECT value FROM json_each(?))`,
    ),
    ack: db.prepare<[string, string, number, string]>(
      `DELETE FROM causeway_deliveries WHERE ${where}`,
    ),
    retry: db.prepare<[number, number, string, string, number, string]>(
      `UPDATE causeway_deliveries
       SET attempt = attempt + 1, available_at = ?, first_failure_at = coalesce(first_failure_at, ?),
           locked_by = NULL, locked_until = NULL
       WHERE ${where}`,
    ),
    release: db.prepare<[string, string, number, string]>(
      `UPDATE causeway_deliveries SET locked_by = NULL, locked_until = NULL WHERE ${where}`,
    ),
    addDeadLetter: db.prepare<[string | null, string, string, string, string, string, number]>(
      `INSERT INTO causeway_dead_letters
         (message_id, destination, group_name, headers, body, failure, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    deadLetters: db.prepare<[string | null, string | null], RawDeadLetter>(
      `SELECT id, destination, group_name AS "group", headers, body, failure, created_at AS createdAt
       FROM causeway_dead_letters WHERE (? IS NULL OR destination = ?) ORDER BY id`,
    ),
  };
}

/**
 * A durable queue in a SQLite file: every publish is one transaction (its COMMIT is the
 * broker's confirmation), consumers poll and claim rows under a lease, and retries wait in
 * the table (`available_at`) rather than in the consumer. Other processes may publish to and
 * consume from the same file; this process's own work wakes its consumers at once.
 */
export class SqliteTransportDriver implements TransportDriver {
  readonly kind = 'sqlite';
  readonly database: SqliteDatabase;
  readonly #owned: boolean;
  readonly #gate: SqliteFileGate;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #hub: QueueHub;
  readonly #writes: SqliteGroupCommit;
  /** The operator's access to this transport's dead letters (list, retry, purge). */
  readonly deadLetterStore: SqliteDeadLetterStore;
  #closed = false;

  constructor(options: SqliteTransportOptions = {}) {
    if (options.database !== undefined && options.filename !== undefined) {
      throw new ValidationError('Invalid SQLite transport options', [
        { path: ['database'], message: 'pass either `filename` or `database`, not both' },
      ]);
    }
    if (options.database) {
      prepareDatabase(options.database);
      this.database = options.database;
      this.#owned = false;
    } else {
      this.database = openSqliteDatabase(options.filename ?? './causeway.db');
      this.#owned = true;
    }
    this.#gate = gateFor(this.database);
    this.#sql = prepare(this.database);
    this.#writes = new SqliteGroupCommit(this.database);
    this.#hub = new QueueHub(this.#store(), {
      pollIntervalMs: options.pollIntervalMs ?? 100,
      leaseMs: options.leaseMs ?? 30_000,
    });
    this.deadLetterStore = new SqliteDeadLetterStore(this.database, (destination) =>
      this.#hub.wakeDestination(destination),
    );
  }

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    await this.publishRaw(
      destination,
      messages.map((m) => encodeBinary(m, HEADER_PREFIX)),
    );
  }

  /** Publishes already-encoded messages, e.g. to test what consumers do with poison. */
  async publishRaw(destination: string, wires: readonly WireMessage[]): Promise<void> {
    if (wires.length === 0) return;
    await this.#write(() => {
      const now = Date.now();
      let after: number | undefined;
      for (const wire of wires) {
        const { lastInsertRowid } = this.#sql.insertMessage.run(
          destination,
          wire.headers[`${HEADER_PREFIX}id`] ?? null,
          JSON.stringify(wire.headers),
          wire.body,
          wire.headers[`${HEADER_PREFIX}partitionkey`] ?? null,
          now,
        );
        after ??= Number(lastInsertRowid) - 1;
      }
      this.#sql.fanOut.run({ now, after: after ?? 0 });
    });
    this.#hub.wakeDestination(destination);
  }

  async consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    this.#assertOpen();
    return this.#hub.consume(destination, group, randomUUID(), options.prefetch, onDelivery);
  }

  /** Whether `close()` was called (or the connection closed under it). */
  get closed(): boolean {
    return this.#closed || !this.database.open;
  }

  /**
   * Tells this driver's consumers that messages for `destination` were committed to its
   * tables by another writer of this process (the outbox relaying in its own transaction), so
   * they look now instead of at their next poll.
   */
  announce(destination: string): void {
    this.#assertOpen();
    this.#hub.wakeDestination(destination);
  }

  /** Dead letters, oldest first; all destinations unless one is named. */
  async deadLetters(destination?: string): Promise<SqlDeadLetter[]> {
    this.#assertOpen();
    const rows = this.#sql.deadLetters.all(destination ?? null, destination ?? null);
    return rows.map((row) => ({
      id: row.id,
      destination: row.destination,
      group: row.group,
      message: { headers: JSON.parse(row.headers) as Record<string, string>, body: row.body },
      failure: parseFailure(row.failure),
      createdAt: new Date(row.createdAt),
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#hub.close();
    // Any write still queued (in a batch or behind the gate) runs first, so closing never cuts
    // one off.
    await this.#writes.flush();
    await this.#gate.run(this.database, 'write', () => undefined);
    if (this.#owned) this.database.close();
  }

  #store(): QueueStore {
    const sql = this.#sql;
    return {
      join: (destination, group) =>
        this.#write(() => {
          const now = Date.now();
          if (sql.addGroup.run(destination, group, now).changes === 1)
            sql.backfill.run(group, now, destination);
        }),
      claim: async (lease, limit, leaseMs) => {
        const params = (now: number) => ({
          d: lease.destination,
          g: lease.group,
          c: lease.consumerId,
          now,
          limit,
        });
        // Most polls find nothing: look first without taking the file's write lock, which
        // every other writer (in any process) would have to wait for.
        const db = this.database;
        const found = await this.#gate.run(db, 'read', () =>
          db.open ? sql.claimable.all(params(Date.now())).length : 0,
        );
        if (found === 0) return [];
        return this.#write(() => {
          const now = Date.now();
          const rows = sql.claimable.all(params(now));
          for (const row of rows)
            sql.lock.run(
              lease.consumerId,
              now + leaseMs,
              lease.destination,
              lease.group,
              row.position,
            );
          return rows.map(toClaimed);
        });
      },
      extend: (lease, positions, leaseMs) =>
        this.#write(() => {
          sql.extend.run(
            Date.now() + leaseMs,
            lease.destination,
            lease.group,
            lease.consumerId,
            JSON.stringify(positions),
          );
        }),
      ack: (lease, position) => this.#write(() => void sql.ack.run(...held(lease, position))),
      release: (lease, position) =>
        this.#write(() => void sql.release.run(...held(lease, position))),
      retry: (lease, position, delayMs, firstFailureAt) =>
        this.#write(() => {
          sql.retry.run(Date.now() + delayMs, firstFailureAt.getTime(), ...held(lease, position));
        }),
      deadLetter: (lease, row, failure) =>
        this.#write(() => {
          // Only the consumer still holding the row records it: a lease that ran out means
          // the message went to someone else, who settles it.
          if (sql.ack.run(...held(lease, row.position)).changes === 0) return;
          sql.addDeadLetter.run(
            row.headers[`${HEADER_PREFIX}id`] ?? null,
            lease.destination,
            lease.group,
            JSON.stringify(row.headers),
            row.body,
            JSON.stringify(failure satisfies FailureInfo),
            Date.now(),
          );
        }),
    };
  }

  /**
   * An immediate transaction, shared with the other writes of this turn of the event loop
   * (group commit), taking its turn behind this process's other writers.
   */
  async #write<T>(work: () => T): Promise<T> {
    this.#assertOpen();
    return this.#writes.run(work);
  }

  #assertOpen(): void {
    if (this.#closed || !this.database.open) throw new StoreClosedError();
  }
}

function held(lease: Lease, position: number): [string, string, number, string] {
  return [lease.destination, lease.group, position, lease.consumerId];
}

function toClaimed(row: RawClaim): ClaimedRow {
  return {
    position: row.position,
    attempt: row.attempt,
    firstFailureAt: row.firstFailureAt === null ? undefined : new Date(row.firstFailureAt),
    headers: JSON.parse(row.headers) as Record<string, string>,
    body: row.body,
  };
}
