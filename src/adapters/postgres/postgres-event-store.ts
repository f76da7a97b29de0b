import type { Pool, QueryResultRow } from 'pg';
import { systemClock, type Clock } from '../../core/clock.js';
import { StoreClosedError } from '../../core/errors.js';
import { serializeJson } from '../../core/serializer.js';
import { createEventStore, type EventStoreOptions } from '../../event-store/create-event-store.js';
import type { EventStoreDriver, InTransactionHook } from '../../event-store/driver.js';
import type { EventRow, PreparedEvent } from '../../event-store/event-codec.js';
import type { EventStore } from '../../event-store/event-store.js';
import type {
  AppendResult,
  Direction,
  EventFilter,
  ExpectedVersion,
  StreamInfo,
  StreamMetadata,
} from '../../event-store/types.js';
import { expectedVersionError, runAppend } from './postgres-append.js';
import { PostgresCheckpointStore } from './postgres-checkpoint-store.js';
import {
  EVENT_COLUMNS,
  STREAM_COLUMNS,
  toEventRow,
  toRows,
  toStreamInfo,
  toStreamStartInfo,
  type EventRecord,
  type StreamRecord,
  type StreamStartRecord,
} from './postgres-event-rows.js';
import {
  openConnection,
  runQuery,
  sqlState,
  toStoreError,
  type PostgresConnection,
  type PostgresConnectionOptions,
} from './postgres-connection.js';
import type { NotificationListener } from './postgres-listener.js';
import { PostgresEventNotifier } from './postgres-event-notifier.js';
import { isPostgresTransaction, PostgresTransaction } from './postgres-transaction.js';
import type { EventRegistry } from '../../event-store/event-registry.js';
import { chainHooks, eventOutboxHook, type EventOutboxOptions } from '../sql/event-outbox.js';
import { writeOutbox } from './postgres-outbox.js';
import { schemaIdentity, type SchemaIdentity } from './postgres-identity.js';
import { assertPostgresSchema, migratePostgresSchema } from './postgres-schema.js';

export interface PostgresEventStoreOptions extends EventStoreOptions, PostgresConnectionOptions {
  /** Create or upgrade the schema on start. Default true; turn off when a deploy step does it. */
  migrate?: boolean;
  /**
   * Publishes appended events through the transactional outbox (see `EventOutboxOptions`):
   * each event `destination` names is written to `causeway_outbox` in the append's own
   * transaction. Run an `OutboxRelay` with a `PostgresOutboxStore` on the same schema; it is
   * woken after each such append.
   */
  outbox?: EventOutboxOptions;
}

/**
 * The event store on PostgreSQL. Appends and pages of the global log are single calls to the
 * PL/pgSQL functions in `postgres-sql.ts`, which also explains why a reader never skips an
 * event of a transaction that commits late.
 */
export class PostgresEventStoreDriver implements EventStoreDriver {
  readonly kind = 'postgres';
  readonly address: string;
  readonly checkpoints: PostgresCheckpointStore;
  readonly identity: SchemaIdentity;
  readonly #connection: PostgresConnection;
  readonly #clock: Clock;
  /** Wakes subscribers, here and in other processes, after each append. */
  readonly #notifier: PostgresEventNotifier;
  #closed = false;
  readonly #outboxHook: InTransactionHook | undefined;

  constructor(
    options: Omit<PostgresEventStoreOptions, keyof EventStoreOptions> & {
      clock?: Clock;
      /** Decodes (and upcasts) events for the outbox's `destination`. */
      registry?: EventRegistry;
    } = {},
  ) {
    this.identity = schemaIdentity(options.schema);
    this.#connection = openConnection(options);
    this.address = this.#connection.address;
    this.#clock = options.clock ?? systemClock;
    this.checkpoints = new PostgresCheckpointStore(
      this.#connection.pool,
      this.identity,
      this.address,
    );
    const identity = this.identity;
    this.#outboxHook =
      options.outbox &&
      eventOutboxHook(options.outbox, options.registry, (transaction, destination, messages) => {
        if (!isPostgresTransaction(transaction))
          throw new TypeError('expected a PostgresTransaction');
        // No NOTIFY inside the append: relays are woken with subscribers, after the commit.
        return writeOutbox(transaction, identity, messages, destination, false);
      });
    this.#notifier = new PostgresEventNotifier(
      this.#connection.pool,
      this.#connection.clientConfig,
      identity,
      this.#outboxHook !== undefined,
    );
  }

  /** The pool the store queries, for running your own statements in the same database. */
  get pool(): Pool {
    return this.#connection.pool;
  }

  /** Creates or upgrades the schema; see `migratePostgresSchema`. */
  async migrate(): Promise<void> {
    await this.#run(() => migratePostgresSchema(this.#connection.pool, this.identity.schema));
  }

  /** Checks the schema is migrated, without changing it (see `assertPostgresSchema`). */
  async checkSchema(): Promise<void> {
    await this.#run(() => assertPostgresSchema(this.#connection.pool, this.identity.schema));
  }

  async append(
    streamId: string,
    events: readonly PreparedEvent[],
    expected: ExpectedVersion,
    inTransaction?: InTransactionHook,
  ): Promise<AppendResult> {
    const hook = chainHooks(this.#outboxHook, inTransaction);
    if (hook) return this.#appendWith(streamId, events, expected, hook);
    const result = await this.#run(() =>
      runAppend(
        (config) => runQuery(this.#connection.pool, config),
        this.identity,
        streamId,
        events,
        expected,
        this.#clock.now(),
        false,
      ),
    );
    if (events.length > 0) this.#notifier.announce();
    return result;
  }

  /**
   * The append inside an explicit transaction on one pooled connection, with `hook` (inline
   * projections) running on that connection before COMMIT: the events and whatever the hook
   * writes commit together, or nothing does. The plain path above stays a single autocommit
   * round trip.
   */
  async #appendWith(
    streamId: string,
    events: readonly PreparedEvent[],
    expected: ExpectedVersion,
    hook: InTransactionHook,
  ): Promise<AppendResult> {
    const result = await this.#run(async () => {
      const client = await this.#connection.pool.connect();
      const transaction = new PostgresTransaction(client, this.identity.schema);
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const appended = await runAppend(
          (config) => client.query(config),
          this.identity,
          streamId,
          events,
          expected,
          this.#clock.now(),
          false,
        );
        await hook(transaction, toRows(streamId, events, appended));
        await client.query('COMMIT');
        return appended;
      } catch (error) {
        // A connection that cannot even roll back is discarded rather than reused.
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        throw error;
      } finally {
        transaction.end();
        client.release(broken);
      }
    });
    if (events.length > 0) this.#notifier.announce();
    return result;
  }

  async getStream(streamId: string): Promise<StreamInfo | undefined> {
    const { rows } = await this.#query<StreamRecord>(
      'get_stream',
      `SELECT ${STREAM_COLUMNS} FROM ${this.identity.quoted}.causeway_streams WHERE stream_id = $1`,
      [streamId],
    );
    return rows[0] && toStreamInfo(rows[0]);
  }

  /**
   * The stream's row and its first page in one statement (one snapshot, one round trip). The
   * stream's columns repeat on every row, its timestamps as text so only the first is parsed;
   * with no events in range the one row has NULL event columns.
   */
  async readStreamStart(
    streamId: string,
    fromVersion: number | undefined,
    direction: Direction,
    limit: number,
  ): Promise<{ info: StreamInfo | undefined; rows: EventRow[] }> {
    const forwards = direction === 'forwards';
    const { rows } = await this.#query<EventRecord & StreamStartRecord>(
      forwards ? 'read_stream_start_fwd' : 'read_stream_start_bwd',
      `SELECT s.version AS s_version, s.state AS s_state, s.metadata::text AS s_metadata,
              s.created_at::text AS s_created_at, s.updated_at::text AS s_updated_at, e.*
         FROM ${this.identity.quoted}.causeway_streams s
         LEFT JOIN LATERAL (
           SELECT ${EVENT_COLUMNS} FROM ${this.identity.quoted}.causeway_events
            WHERE stream_id = s.stream_id
              AND stream_version ${forwards ? '>=' : '<='} coalesce($2, s.version)
            ORDER BY stream_version ${forwards ? 'ASC' : 'DESC'} LIMIT $3) e ON true
        WHERE s.stream_id = $1
        ORDER BY e.stream_version ${forwards ? 'ASC' : 'DESC'}`,
      [streamId, fromVersion ?? null, limit],
    );
    const first = rows[0];
    if (!first) return { info: undefined, rows: [] };
    const info = toStreamStartInfo(streamId, first);
    return { info, rows: first.id === null ? [] : rows.map(toEventRow) };
  }

  async readStreamRows(
    streamId: string,
    fromVersion: number,
    direction: Direction,
    limit: number,
  ): Promise<EventRow[]> {
    const forwards = direction === 'forwards';
    const { rows } = await this.#query<EventRecord>(
      forwards ? 'read_stream_fwd' : 'read_stream_bwd',
      `SELECT ${EVENT_COLUMNS} FROM ${this.identity.quoted}.causeway_events
        WHERE stream_id = $1 AND stream_version ${forwards ? '>=' : '<='} $2
        ORDER BY stream_version ${forwards ? 'ASC' : 'DESC'} LIMIT $3`,
      [streamId, fromVersion, limit],
    );
    return rows.map(toEventRow);
  }

  async readAllRows(
    after: number,
    limit: number,
    filter: EventFilter | undefined,
  ): Promise<{ rows: EventRow[]; scannedUpTo: number; isEnd: boolean }> {
    const { rows } = await this.#query<EventRecord>(
      'read_all',
      `SELECT * FROM ${this.identity.quoted}.causeway_read_all($1, $2, $3, $4)`,
      [after, limit, filter?.types ?? null, filter?.streamPrefix ?? null],
    );
    // The first row carries the high-water mark the page was read under, nothing else.
    const highWater = Number(rows[0]!.global_position);
    const events = rows.slice(1).map(toEventRow);
    const full = events.length === limit;
    const scannedUpTo = full ? events.at(-1)!.globalPosition : Math.max(after, highWater);
    return { rows: events, scannedUpTo, isEnd: !full };
  }

  async headPosition(): Promise<number> {
    const { rows } = await this.#query<{ head: string }>(
      'head',
      `SELECT ${this.identity.quoted}.causeway_head() AS head`,
      [],
    );
    return Number(rows[0]!.head);
  }

  async listStreams(options: {
    prefix?: string;
    after?: string;
    limit: number;
    includeDeleted: boolean;
  }): Promise<StreamInfo[]> {
    const values: unknown[] = [options.limit];
    const where: string[] = [];
    if (options.prefix !== undefined)
      where.push(`starts_with(stream_id, $${values.push(options.prefix)})`);
    if (options.after !== undefined) where.push(`stream_id > $${values.push(options.after)}`);
    if (!options.includeDeleted) where.push(`state = 'active'`);
    const { rows } = await this.#query<StreamRecord>(
      undefined,
      `SELECT ${STREAM_COLUMNS} FROM ${this.identity.quoted}.causeway_streams
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY stream_id LIMIT $1`,
      values,
    );
    return rows.map(toStreamInfo);
  }

  async setStreamMetadata(streamId: string, metadata: StreamMetadata): Promise<void> {
    const now = this.#clock.now();
    await this.#query(
      'set_metadata',
      `INSERT INTO ${this.identity.quoted}.causeway_streams
         (stream_id, version, state, metadata, created_at, updated_at)
       VALUES ($1, 0, 'active', $2::json, $3, $3)
       ON CONFLICT (stream_id) DO UPDATE SET metadata = EXCLUDED.metadata, updated_at = EXCLUDED.updated_at`,
      [streamId, serializeJson(metadata, `metadata of stream ${streamId}`), now],
    );
  }

  async deleteStream(
    streamId: string,
    expected: ExpectedVersion,
    mode: 'soft' | 'tombstone',
  ): Promise<void> {
    try {
      await this.#query(
        'delete_stream',
        `SELECT ${this.identity.quoted}.causeway_delete_stream($1, $2, $3, $4)`,
        [streamId, String(expected), mode, this.#clock.now()],
      );
    } catch (error) {
      throw sqlState(error) === 'CW001' ? expectedVersionError(error, streamId, expected) : error;
    }
  }

  onAppend(listener: () => void): () => void {
    return this.#notifier.add(listener);
  }

  /** The LISTEN connection, for tests of reconnection. */
  get notifications(): NotificationListener {
    return this.#notifier.listener;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#notifier.close();
    if (this.#connection.ownsPool) await this.#connection.pool.end();
  }

  async #query<R extends QueryResultRow>(
    name: string | undefined,
    text: string,
    values: unknown[],
  ) {
    return this.#run(() =>
      runQuery<R>(
        this.#connection.pool,
        name === undefined
          ? { text, values }
          : { name: this.identity.statementPrefix + name, text, values },
      ),
    );
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError();
    try {
      return await operation();
    } catch (error) {
      throw toStoreError(error, this.address);
    }
  }
}

/**
 * Opens (and by default migrates) a PostgreSQL event store. Connection problems surface here
 * as `StoreUnavailableError`, not on the first append.
 */
export async function createPostgresEventStore(
  options: PostgresEventStoreOptions = {},
): Promise<EventStore> {
  const driver = new PostgresEventStoreDriver(options);
  try {
    if (options.migrate ?? true) await driver.migrate();
    else await driver.checkSchema();
  } catch (error) {
    await driver.close();
    throw error;
  }
  return createEventStore(driver, options);
}
