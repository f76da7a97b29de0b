import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import type { Message, OutboxStore, TransportDriver } from 'causeway';
import { loadAdapter } from '../causeway.js';
import {
  causewayOutbox,
  OUTBOX_DESTINATION,
  rawOutbox,
  type OutboxEntrant,
  type OutboxTarget,
} from './outbox.js';
import { loadCausewayRabbitMq, rawRabbitMqTarget, type AmqpMessage } from './rabbitmq.js';
import { freshFile, SQLITE_PRAGMAS } from './sqlite.js';
import { cloudEventHeaders, type Payload } from './workload.js';

/**
 * Outbox relay on SQLite: the outbox in the application's file, relayed to a queue in the
 * same file or to RabbitMQ. Both sides run WAL with `synchronous=FULL`.
 */

interface CausewaySqliteOutboxModule {
  openSqliteDatabase(filename: string): SqliteDatabase;
  SqliteOutboxStore: new (database: SqliteDatabase) => OutboxStore & {
    write(database: SqliteDatabase, destination: string, messages: readonly Message[]): void;
  };
  SqliteTransportDriver: new (options: { database: SqliteDatabase }) => TransportDriver;
}

export async function sqliteOutboxCauseway(
  dir: string,
  target: OutboxTarget,
  amqpUrl: string,
): Promise<OutboxEntrant> {
  const adapter = await loadAdapter<CausewaySqliteOutboxModule>(
    'causeway/sqlite',
    'src/adapters/sqlite/index.ts',
    ['openSqliteDatabase', 'SqliteOutboxStore', 'SqliteTransportDriver'],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  const rabbit = target === 'rabbitmq' ? await loadCausewayRabbitMq(amqpUrl) : undefined;
  if (rabbit && 'reason' in rabbit) return rabbit;
  const { openSqliteDatabase, SqliteOutboxStore, SqliteTransportDriver } = adapter.module;
  return {
    label: `causeway/sqlite outbox → ${target === 'queue' ? 'causeway/sqlite' : 'causeway/rabbitmq'}`,
    open: async () => {
      const db = openSqliteDatabase(freshFile(dir, 'outbox-causeway'));
      const store = new SqliteOutboxStore(db);
      const broker = rabbit ? await rabbit.connect() : undefined;
      const driver = broker?.driver ?? new SqliteTransportDriver({ database: db });
      return causewayOutbox({
        store,
        driver,
        // One application transaction per call, as a command handler's would be.
        write: async (messages) =>
          db.transaction(() => store.write(db, OUTBOX_DESTINATION, messages))(),
        close: async () => {
          await broker?.cleanup();
          db.close();
        },
      });
    },
  };
}

interface RawRow {
  sequence: number;
  headers: string;
  body: string;
}

/**
 * The raw relay: an outbox table with the same columns (headers as JSON, a lease, `sent_at`),
 * claimed 100 at a time in one immediate transaction (`UPDATE … RETURNING`), published to the
 * raw queue table in the same file (one transaction) or to RabbitMQ (confirm channel), then
 * marked sent in one statement.
 */
export function sqliteOutboxBaseline(
  dir: string,
  target: OutboxTarget,
  amqpUrl: string,
): OutboxEntrant {
  return {
    label: `better-sqlite3 outbox → ${target === 'queue' ? 'queue table' : 'amqplib'}`,
    open: async () => {
      const db = new Database(freshFile(dir, 'outbox-raw'));
      for (const pragma of SQLITE_PRAGMAS) db.pragma(pragma);
      db.exec(`
        CREATE TABLE outbox (
          sequence INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL,
          message_id TEXT NOT NULL, headers TEXT NOT NULL, body TEXT NOT NULL,
          created_at INTEGER NOT NULL, claimed_by TEXT, claimed_until INTEGER, sent_at INTEGER);
        CREATE INDEX outbox_unsent ON outbox (sequence) WHERE sent_at IS NULL;
        CREATE TABLE queue (
          position INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL, id TEXT NOT NULL,
          headers TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL, locked_until INTEGER);
        CREATE INDEX queue_log ON queue (destination, position);`);
      const prefix = target === 'queue' ? 'ce-' : 'cloudEvents:';
      const insert = db.prepare<[string, string, string, string, number]>(
        `INSERT INTO outbox (destination, message_id, headers, body, created_at) VALUES (?, ?, ?, ?, ?)`,
      );
      const write = db.transaction((bodies: readonly Payload[]) => {
        const now = Date.now();
        for (const body of bodies) {
          const headers: Record<string, string> = cloudEventHeaders(prefix);
          if (target === 'queue') headers['content-type'] = 'application/json';
          insert.run(
            OUTBOX_DESTINATION,
            headers[`${prefix}id`]!,
            JSON.stringify(headers),
            JSON.stringify(body),
            now,
          );
        }
      });
      const claim = db.prepare<
        [{ owner: string; now: number; until: number; limit: number }],
        RawRow
      >(
        `UPDATE outbox SET claimed_by = @owner, claimed_until = @until WHERE sequence IN (
           SELECT sequence FROM outbox WHERE sent_at IS NULL
             AND (claimed_by IS NULL OR claimed_until < @now) ORDER BY sequence LIMIT @limit)
         RETURNING sequence, headers, body`,
      );
      const claimTx = db.transaction((limit: number) => {
        const now = Date.now();
        return claim.all({ owner: 'raw', now, until: now + 30_000, limit });
      });
      const markSent = db.prepare<[number, string]>(
        `UPDATE outbox SET sent_at = ? WHERE sequence IN (SELECT value FROM json_each(?))`,
      );
      const enqueue = db.prepare<[string, string, string, string, number]>(
        `INSERT INTO queue (destination, id, headers, body, created_at) VALUES (?, ?, ?, ?, ?)`,
      );
      const enqueueAll = db.transaction((rows: readonly RawRow[]) => {
        const now = Date.now();
        for (const row of rows) {
          const id = (JSON.parse(row.headers) as Record<string, string>)['ce-id']!;
          enqueue.run(OUTBOX_DESTINATION, id, row.headers, row.body, now);
        }
      });
      const rabbit = target === 'rabbitmq' ? await rawRabbitMqTarget(amqpUrl) : undefined;
      const toAmqp = (row: RawRow): AmqpMessage => ({
        body: row.body,
        headers: JSON.parse(row.headers) as Record<string, string>,
      });
      return rawOutbox<RawRow>({
        write: async (bodies) => write.immediate(bodies),
        claim: async (limit) => claimTx.immediate(limit),
        publish: async (rows) => {
          if (rabbit) await rabbit.publish(rows.map(toAmqp));
          else enqueueAll.immediate(rows);
        },
        markSent: async (rows) => {
          markSent.run(Date.now(), JSON.stringify(rows.map((row) => row.sequence)));
        },
        close: async () => {
          await rabbit?.close();
          db.close();
        },
      });
    },
  };
}
