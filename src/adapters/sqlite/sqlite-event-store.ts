import type { Statement } from 'better-sqlite3';
import { systemClock, type Clock } from '../../core/clock.js';
import { StoreClosedError, ValidationError } from '../../core/errors.js';
import { createEventStore, type EventStoreOptions } from '../../event-store/create-event-store.js';
import type { EventStoreDriver, InTransactionHook } from '../../event-store/driver.js';
import type { EventRow, PreparedEvent } from '../../event-store/event-codec.js';
import type { EventStore } from '../../event-store/event-store.js';
import { checkExpectedVersion, type StreamHead } from '../../event-store/expected-version.js';
import type {
  AppendResult,
  Direction,
  EventFilter,
  ExpectedVersion,
  StreamInfo,
  StreamMetadata,
} from '../../event-store/types.js';
import type { EventRegistry } from '../../event-store/event-registry.js';
import { chainHooks, eventOutboxHook, type EventOutboxOptions } from '../sql/event-outbox.js';
import { appendInTransaction, appendWithHook } from './sqlite-append.js';
import { writeOutbox } from './sqlite-outbox.js';
import { SqliteCheckpointStore } from './sqlite-checkpoint-store.js';
import {
  addressOf,
  openSqliteDatabase,
  prepareDatabase,
  toStoreError,
  type SqliteDatabase,
} from './sqlite-schema.js';
import { gateFor, isSqliteTransaction, type SqliteFileGate } from './sqlite-transaction.js';
import type { Message } from '../../messaging/message.js';
import {
  EVENT_COLUMNS,
  STREAM_COLUMNS,
  toEventRow,
  toStreamInfo,
  type RawEventRow,
  type RawStreamRow,
} from './sqlite-event-rows.js';

const DEFAULT_FILENAME = './causeway.db';

export interface SqliteEventStoreOptions extends EventStoreOptions {
  /** The database file, created on open if missing. Default `./causeway.db`. */
  filename?: string;
  /**
   * An open better-sqlite3 connection to use instead of `filename` (e.g. the one your read
   * models use, so projections can write in the same transaction). The store sets its
   * pragmas and schema on it and never closes it. With inline projections an append keeps a
   * transaction open across awaits: run your own writes on this connection through
   * `runSerialized` so they never land inside it.
   */
  database?: SqliteDatabase;
  /**
   * Publishes appended events through the transactional outbox (see `EventOutboxOptions`):
   * each event `destination` names is written to `causeway_outbox` in the append's own
   * transaction. Run an `OutboxRelay` with a `SqliteOutboxStore` on the same file.
   */
  outbox?: EventOutboxOptions;
}

interface ReadAllParams {
  after: number;
  hwm: number;
  limit: number;
  types?: string;
  prefix?: string;
}

/**
 * An event store in one SQLite file. SQLite admits one writer at a time (across processes
 * too), and each append takes the write lock before it draws positions, so positions are
 * handed out in commit order and everything up to the last committed position is safe to
 * read: no open transaction can later commit an event below it.
 */
export class SqliteEventStoreDriver implements EventStoreDriver {
  readonly kind = 'sqlite';
  readonly address: string;
  /** The connection, for snapshot stores and read models that must share its transactions. */
  readonly database: SqliteDatabase;
  readonly checkpoints: SqliteCheckpointStore;
  readonly #owned: boolean;
  readonly #clock: Clock;
  readonly #listeners = new Set<() => void>();
  readonly #statements;
  readonly #readAll = new Map<string, Statement<[ReadAllParams], RawEventRow>>();
  readonly #gate: SqliteFileGate;
  readonly #outboxHook: InTransactionHook | undefined;
  #closed = false;

  constructor(
    options: {
      filename?: string;
      database?: SqliteDatabase;
      clock?: Clock;
      outbox?: EventOutboxOptions;
      /** Decodes (and upcasts) events for the outbox's `destination`. */
      registry?: EventRegistry;
    } = {},
  ) {
    if (options.database !== undefined && options.filename !== undefined) {
      throw new ValidationError('Invalid SQLite store options', [
        { path: ['database'], message: 'pass either `filename` or `database`, not both' },
      ]);
    }
    this.#clock = options.clock ?? systemClock;
    if (options.database) {
      prepareDatabase(options.database);
      this.database = options.database;
      this.#owned = false;
    } else {
      this.database = openSqliteDatabase(options.filename ?? DEFAULT_FILENAME);
      this.#owned = true;
    }
    this.address = addressOf(this.database.name);
    this.#gate = gateFor(this.database);
    this.checkpoints = new SqliteCheckpointStore(this.database, { clock: this.#clock });
    this.#statements = this.#prepare(this.database);
    this.#outboxHook =
      options.outbox && eventOutboxHook(options.outbox, options.registry, writeOutboxRows);
  }

  #prepare(db: SqliteDatabase) {
    return {
      head: db.prepare<[string], StreamHead>(
        'SELECT version, state FROM causeway_streams WHERE stream_id = ?',
      ),
      getStream: db.prepare<[string], RawStreamRow>(
        `SELECT ${STREAM_COLUMNS} FROM causeway_streams WHERE stream_id = ?`,
      ),
      readForwards: db
        .prepare<[string, number, number], RawEventRow>(
          `SELECT ${EVENT_COLUMNS} FROM causeway_events
           WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version LIMIT ?`,
        )
        .raw(),
      readBackwards: db
        .prepare<[string, number, number], RawEventRow>(
          `SELECT ${EVENT_COLUMNS} FROM causeway_events
           WHERE stream_id = ? AND stream_version <= ? ORDER BY stream_version DESC LIMIT ?`,
        )
        .raw(),
      // Tracks the counter, not max(global_position), so the head never moves backwards when
      // a tombstone deletes the newest events (the in-memory store behaves the same).
      position: db
        .prepare<[], number>(`SELECT seq FROM sqlite_sequence WHERE name = 'causeway_events'`)
        .pluck(),
      // `after` = '' and `prefix` = '' match every stream, so one statement serves all cases
      // and still walks the primary key in order.
      listStreams: db.prepare<
        [{ after: string; prefix: string; includeDeleted: number; limit: number }],
        RawStreamRow
      >(
        `SELECT ${STREAM_COLUMNS} FROM causeway_streams
         WHERE stream_id > @after AND stream_id >= @prefix
           AND substr(stream_id, 1, length(@prefix)) = @prefix
           AND (@includeDeleted OR state = 'active')
         ORDER BY stream_id LIMIT @limit`,
      ),
      setMetadata: db.prepare<[{ streamId: string; metadata: string; now: number }]>(
        `INSERT INTO causeway_streams (stream_id, version, state, metadata, created_at, updated_at)
         VALUES (@streamId, 0, 'active', @metadata, @now, @now)
         ON CONFLICT (stream_id) DO UPDATE SET
           metadata = excluded.metadata, updated_at = excluded.updated_at`,
      ),
      softDelete: db.prepare<[{ streamId: string; now: number }]>(
        `INSERT INTO causeway_streams (stream_id, version, state, metadata, created_at, updated_at)
         VALUES (@streamId, 0, 'soft_deleted', json_object('truncateBefore', 1), @now, @now)
         ON CONFLICT (stream_id) DO UPDATE SET state = 'soft_deleted',
           metadata = json_set(metadata, '$.truncateBefore', version + 1), updated_at = @now`,
      ),
      tombstone: db.prepare<[{ streamId: string; now: number }]>(
        `INSERT INTO causeway_streams (stream_id, version, state, created_at, updated_at)
         VALUES (@streamId, 0, 'tombstoned', @now, @now)
         ON CONFLICT (stream_id) DO UPDATE SET state = 'tombstoned', updated_at = @now`,
      ),
      deleteEvents: db.prepare<[string]>('DELETE FROM causeway_events WHERE stream_id = ?'),
      deleteSnapshot: db.prepare<[string]>('DELETE FROM causeway_snapshots WHERE stream_id = ?'),
    };
  }

  async append(
    streamId: string,
    events: readonly PreparedEvent[],
    expected: ExpectedVersion,
    inTransaction?: InTransactionHook,
  ): Promise<AppendResult> {
    const now = this.#clock.now();
    let result: AppendResult;
    const hook = chainHooks(this.#outboxHook, inTransaction);
    if (hook) {
      // The hook awaits, so this one holds the transaction open across turns of the event loop.
      this.#assertOpen();
      try {
        result = await appendWithHook(this.database, streamId, events, expected, now, hook);
      } catch (error) {
        throw toStoreError(error, this.address);
      }
    } else {
      // The common case stays one synchronous better-sqlite3 transaction.
      result = await this.#run('write', () =>
        appendInTransaction(this.database, streamId, events, expected, now),
      );
    }
    if (events.length > 0) this.#notify();
    return result;
  }

  async getStream(streamId: string): Promise<StreamInfo | undefined> {
    const row = await this.#run('read', () => this.#statements.getStream.get(streamId));
    return row && toStreamInfo(row);
  }

  async readStreamStart(
    streamId: string,
    fromVersion: number | undefined,
    direction: Direction,
    limit: number,
  ): Promise<{ info: StreamInfo | undefined; rows: EventRow[] }> {
    const s = this.#statements;
    const statement = direction === 'forwards' ? s.readForwards : s.readBackwards;
    return this.#run('read', () => {
      const row = s.getStream.get(streamId);
      if (!row) return { info: undefined, rows: [] };
      const rows = statement.all(streamId, fromVersion ?? row.version, limit);
      return { info: toStreamInfo(row), rows: rows.map(toEventRow) };
    });
  }

  async readStreamRows(
    streamId: string,
    fromVersion: number,
    direction: Direction,
    limit: number,
  ): Promise<EventRow[]> {
    const statement =
      direction === 'forwards' ? this.#statements.readForwards : this.#statements.readBackwards;
    const rows = await this.#run('read', () => statement.all(streamId, fromVersion, limit));
    return rows.map(toEventRow);
  }

  async readAllRows(
    after: number,
    limit: number,
    filter: EventFilter | undefined,
  ): Promise<{ rows: EventRow[]; scannedUpTo: number; isEnd: boolean }> {
    return this.#run('read', () => {
      // The mark is read first and bounds the scan, so the page is consistent without a read
      // transaction: every row at or below it had committed before the rows were read.
      const hwm = this.#statements.position.get() ?? 0;
      const params: ReadAllParams = { after, hwm, limit: limit + 1 };
      if (filter?.types) params.types = JSON.stringify(filter.types);
      if (filter?.streamPrefix !== undefined) params.prefix = filter.streamPrefix;
      // One row beyond the page tells a full page apart from the end of the log.
      const raw = this.#readAllStatement(params).all(params);
      if (raw.length <= limit) {
        return { rows: raw.map(toEventRow), scannedUpTo: Math.max(after, hwm), isEnd: true };
      }
      const rows = raw.slice(0, limit).map(toEventRow);
      return { rows, scannedUpTo: rows.at(-1)?.globalPosition ?? after, isEnd: false };
    });
  }

  #readAllStatement(params: ReadAllParams): Statement<[ReadAllParams], RawEventRow> {
    const key = `${params.types !== undefined}/${params.prefix !== undefined}`;
    let statement = this.#readAll.get(key);
    if (!statement) {
      const where = ['global_position > @after', 'global_position <= @hwm'];
      // No index on `type` on purpose: it would cost every append a page write, and a filtered
      // page walks the position range anyway (the subscription then skips what it scanned).
      if (params.types !== undefined) where.push('type IN (SELECT value FROM json_each(@types))');
      if (params.prefix !== undefined)
        where.push('substr(stream_id, 1, length(@prefix)) = @prefix');
      statement = this.database
        .prepare<[ReadAllParams], RawEventRow>(
          `SELECT ${EVENT_COLUMNS} FROM causeway_events WHERE ${where.join(' AND ')}
           ORDER BY global_position LIMIT @limit`,
        )
        .raw();
      this.#readAll.set(key, statement);
    }
    return statement;
  }

  async headPosition(): Promise<number> {
    return this.#run('read', () => this.#statements.position.get() ?? 0);
  }

  async listStreams(options: {
    prefix?: string;
    after?: string;
    limit: number;
    includeDeleted: boolean;
  }): Promise<StreamInfo[]> {
    const rows = await this.#run('read', () =>
      this.#statements.listStreams.all({
        after: options.after ?? '',
        prefix: options.prefix ?? '',
        includeDeleted: options.includeDeleted ? 1 : 0,
        limit: options.limit,
      }),
    );
    return rows.map(toStreamInfo);
  }

  async setStreamMetadata(streamId: string, metadata: StreamMetadata): Promise<void> {
    const json = JSON.stringify(metadata);
    await this.#run('write', () =>
      this.#statements.setMetadata.run({
        streamId,
        metadata: json,
        now: this.#clock.now().getTime(),
      }),
    );
  }

  async deleteStream(
    streamId: string,
    expected: ExpectedVersion,
    mode: 'soft' | 'tombstone',
  ): Promise<void> {
    const s = this.#statements;
    const now = this.#clock.now().getTime();
    const remove = this.database.transaction(() => {
      checkExpectedVersion(streamId, expected, s.head.get(streamId));
      if (mode === 'soft') {
        s.softDelete.run({ streamId, now });
        return;
      }
      s.tombstone.run({ streamId, now });
      s.deleteEvents.run(streamId);
      // A hard delete should leave no copy of the stream's state behind.
      s.deleteSnapshot.run(streamId);
    });
    await this.#run('write', () => remove.immediate());
  }

  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    if (!this.#owned) return;
    // Waits for an append still open on this connection ('read': other connections' work
    // does not matter here), so closing never cuts a transaction short.
    await this.#gate.run(this.database, 'read', () => {
      if (this.database.open) this.database.close();
    });
  }

  #notify(): void {
    for (const listener of this.#listeners) {
      // The append has committed; a failing listener must not make it look failed.
      try {
        listener();
      } catch {
        // Subscriptions poll as well, so a lost wake-up only delays delivery.
      }
    }
  }

  #assertOpen(): void {
    if (this.#closed || !this.database.open) throw new StoreClosedError();
  }

  /** Runs statements on the connection once the file's gate lets them (see sqlite-transaction.ts). */
  #run<T>(access: 'read' | 'write', work: () => T): T | Promise<T> {
    this.#assertOpen();
    return this.#gate.run(this.database, access, () => {
      this.#assertOpen();
      try {
        return work();
      } catch (error) {
        throw toStoreError(error, this.address);
      }
    });
  }
}

/** An event store in a SQLite file (default `./causeway.db`), created on first use. */
export function createSqliteEventStore(options: SqliteEventStoreOptions = {}): EventStore {
  const { filename, database, outbox, ...storeOptions } = options;
  const driver = new SqliteEventStoreDriver({
    ...(filename === undefined ? {} : { filename }),
    ...(database === undefined ? {} : { database }),
    ...(storeOptions.clock === undefined ? {} : { clock: storeOptions.clock }),
    ...(outbox === undefined ? {} : { outbox }),
    ...(storeOptions.registry === undefined ? {} : { registry: storeOptions.registry }),
  });
  return createEventStore(driver, storeOptions);
}

/** The event store's outbox hook writes through the append's `SqliteTransaction`. */
function writeOutboxRows(transaction: unknown, destination: string, messages: readonly Message[]) {
  if (!isSqliteTransaction(transaction)) throw new TypeError('expected a SqliteTransaction');
  writeOutbox(transaction, destination, messages);
}
