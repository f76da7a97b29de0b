import type { Transaction } from 'better-sqlite3';
import { DuplicateEventIdError } from '../../core/errors.js';
import type { InTransactionHook } from '../../event-store/driver.js';
import type { EventRow, PreparedEvent } from '../../event-store/event-codec.js';
import { checkExpectedVersion, type StreamHead } from '../../event-store/expected-version.js';
import type { AppendResult, ExpectedVersion } from '../../event-store/types.js';
import { sqliteCode, type SqliteDatabase } from './sqlite-schema.js';
import { gateFor } from './sqlite-transaction.js';

type InsertEventParams = [
  id: string,
  streamId: string,
  streamVersion: number,
  type: string,
  source: string,
  subject: string,
  time: number,
  datacontenttype: string,
  data: string,
  metadata: string,
  schemaVersion: number,
];
type AppendArgs = [string, readonly PreparedEvent[], ExpectedVersion, number];

type AppendRows = (...args: AppendArgs) => AppendResult;

/**
 * The append, with its statements prepared once per connection and reused: `rows` runs inside
 * a transaction someone else opened, `transaction` wraps it in its own.
 */
interface Append {
  rows: AppendRows;
  transaction: Transaction<AppendRows>;
}
const appends = new WeakMap<SqliteDatabase, Append>();

function appendFor(db: SqliteDatabase): Append {
  const cached = appends.get(db);
  if (cached) return cached;
  const head = db.prepare<[string], StreamHead>(
    'SELECT version, state FROM causeway_streams WHERE stream_id = ?',
  );
  const insertEvent = db.prepare<InsertEventParams>(
    `INSERT INTO causeway_events (id, stream_id, stream_version, type, source, subject, time,
       datacontenttype, data, metadata, schema_version)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const upsertStream = db.prepare<[string, number, number, number]>(
    `INSERT INTO causeway_streams (stream_id, version, state, created_at, updated_at)
     VALUES (?, ?, 'active', ?, ?)
     ON CONFLICT (stream_id) DO UPDATE SET
       version = excluded.version, state = 'active', updated_at = excluded.updated_at`,
  );
  const rows: AppendRows = (streamId, events, expected, now) => {
    const current = head.get(streamId);
    checkExpectedVersion(streamId, expected, current);
    const base = current?.version ?? 0;
    if (events.length === 0) {
      return { nextExpectedVersion: current?.state === 'active' ? base : 0, positions: [] };
    }
    const positions: number[] = [];
    for (const [index, event] of events.entries()) {
      try {
        const { lastInsertRowid } = insertEvent.run(
          event.id,
          streamId,
          base + index + 1,
          event.type,
          event.source,
          event.subject,
          event.time.getTime(),
          event.datacontenttype,
          event.data,
          event.metadata,
          event.schemaVersion,
        );
        positions.push(Number(lastInsertRowid));
      } catch (error) {
        // Throwing rolls the whole append back (transaction or savepoint): nothing is written.
        if (isDuplicateId(error)) throw new DuplicateEventIdError(event.id, { cause: error });
        throw error;
      }
    }
    const version = base + events.length;
    upsertStream.run(streamId, version, now, now);
    return { nextExpectedVersion: version, positions };
  };
  // better-sqlite3 wraps it in BEGIN/COMMIT at top level and in a SAVEPOINT when nested.
  const append = { rows, transaction: db.transaction(rows) };
  appends.set(db, append);
  return append;
}

function isDuplicateId(error: unknown): boolean {
  return (
    sqliteCode(error) === 'SQLITE_CONSTRAINT_UNIQUE' &&
    (error as Error).message.includes('causeway_events.id')
  );
}

/**
 * The append rule on a given connection, for code that must append in the same transaction
 * as its own writes (inline projections, outbox). Inside an open transaction it runs as a
 * savepoint, so a failed append leaves the caller's transaction usable and unchanged; with no
 * transaction open it takes its own `BEGIN IMMEDIATE`. Open yours with `BEGIN IMMEDIATE`
 * (`db.transaction(fn).immediate()`) too: a deferred one that read first can fail with
 * `SQLITE_BUSY_SNAPSHOT` when it tries to write. Synchronous, like better-sqlite3.
 * In-process subscribers are woken by the driver's own appends only; these are found by polling.
 * It cannot wait, so it throws while this process has an async transaction open on the file
 * (a projection batch, an append with inline projections) instead of stalling the event loop.
 */
export function appendInTransaction(
  db: SqliteDatabase,
  streamId: string,
  events: readonly PreparedEvent[],
  expected: ExpectedVersion,
  now: Date = new Date(),
): AppendResult {
  gateFor(db).assertSyncWrite(db);
  return appendFor(db).transaction.immediate(streamId, events, expected, now.getTime());
}

/**
 * An append whose inline projections run before the commit: `BEGIN IMMEDIATE`, the rows, the
 * hook with the open transaction, `COMMIT`. The hook awaits, so the transaction is held
 * through the file's gate (see sqlite-transaction.ts); if anything throws, nothing is written.
 */
export function appendWithHook(
  db: SqliteDatabase,
  streamId: string,
  events: readonly PreparedEvent[],
  expected: ExpectedVersion,
  now: Date,
  hook: InTransactionHook,
): Promise<AppendResult> {
  return gateFor(db).transaction(db, async (transaction) => {
    // No savepoint: the transaction holds nothing else yet, and any throw rolls it all back.
    const result = appendFor(db).rows(streamId, events, expected, now.getTime());
    if (events.length === 0) return result;
    const first = result.nextExpectedVersion - events.length + 1;
    const rows: EventRow[] = events.map((event, index) => ({
      ...event,
      streamId,
      streamVersion: first + index,
      globalPosition: result.positions[index]!,
    }));
    await hook(transaction, rows);
    return result;
  });
}
