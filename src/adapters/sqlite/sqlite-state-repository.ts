import type { Statement as BetterStatement } from 'better-sqlite3';
import { StateFencedError } from '../../streams/errors.js';
import {
  tableWritesOf,
  validateTableSink,
  type ClaimRequest,
  type OutboxRow,
  type ScopeOwner,
  type SqlValue,
  type StateChanges,
  type StateRepository,
  type StoredState,
  type TableSinkSpec,
} from '../../streams/state-repository.js';
import {
  scopeOwnerOf,
  storedStateOf,
  type EntryRow,
  type ScopeRow,
  type WindowRow,
} from '../sql/stream-state-rows.js';
import { tableWriteSql } from '../sql/table-sink-sql.js';
import { ensureSchema, type SqliteDatabase } from './sqlite-schema.js';
import { runOnFile } from './sqlite-transaction.js';

export interface SqliteStateRepositoryOptions {
  /**
   * Read-model tables written in the commit transaction (create them yourself, in this
   * file, with a unique index on the key columns). After a crash they equal a clean run's.
   */
  tables?: readonly TableSinkSpec[];
}

// Parameters vary per statement; each call site passes the right ones (checked by the tests).
type Statement = BetterStatement<unknown[]>;

/**
 * Stream processing state in a Causeway SQLite file (see `DurableStateBackend`): a commit's
 * entries, positions, stream times, outbox rows and table-sink rows go in one
 * `BEGIN IMMEDIATE` transaction, which first checks the scope's generation — a process that
 * lost its scope writes nothing. Use it with `DurableStateBackend.open({ repository, scope })`.
 */
export class SqliteStateRepository implements StateRepository {
  readonly tableSinks: ReadonlySet<string>;
  readonly #db: SqliteDatabase;
  readonly #specs = new Map<string, TableSinkSpec>();
  readonly #tableStatements = new Map<string, Statement>();
  readonly #sql: Record<
    | 'claim'
    | 'fence'
    | 'release'
    | 'putEntry'
    | 'deleteEntry'
    | 'putWindow'
    | 'deleteWindow'
    | 'putTime'
    | 'putPosition'
    | 'putOutbox'
    | 'deleteOutbox'
    | 'positions'
    | 'entries'
    | 'windows'
    | 'times'
    | 'outbox'
    | 'owners',
    Statement
  >;

  constructor(database: SqliteDatabase, options: SqliteStateRepositoryOptions = {}) {
    ensureSchema(database);
    this.#db = database;
    for (const spec of options.tables ?? []) {
      validateTableSink(spec);
      this.#specs.set(spec.sink, spec);
    }
    this.tableSinks = new Set(this.#specs.keys());
    const prepare = (sql: string) => database.prepare(sql);
    this.#sql = {
      // A new generation either when the scope is free, expired, ours already, or on takeover.
      claim: prepare(`
        INSERT INTO causeway_stream_scopes (scope, owner, generation, lease_expires_at, updated_at)
        VALUES (@scope, @owner, 1, @leaseUntil, @now)
        ON CONFLICT (scope) DO UPDATE SET
          owner = excluded.owner,
          generation = causeway_stream_scopes.generation + 1,
          lease_expires_at = excluded.lease_expires_at,
          updated_at = excluded.updated_at
        WHERE @takeOver = 1
           OR causeway_stream_scopes.owner IS NULL
           OR causeway_stream_scopes.owner = excluded.owner
           OR coalesce(causeway_stream_scopes.lease_expires_at, 0) <= @now
        RETURNING generation`),
      fence: prepare(`
        UPDATE causeway_stream_scopes SET lease_expires_at = ?, updated_at = ?
        WHERE scope = ? AND generation = ?`),
      release: prepare(`
        UPDATE causeway_stream_scopes SET owner = NULL, lease_expires_at = NULL, updated_at = ?
        WHERE scope = ? AND generation = ?`),
      putEntry: prepare(`
        INSERT INTO causeway_stream_entries (scope, store, key_id, key, value) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (scope, store, key_id) DO UPDATE SET value = excluded.value`),
      deleteEntry: prepare(
        'DELETE FROM causeway_stream_entries WHERE scope = ? AND store = ? AND key_id = ?',
      ),
      putWindow: prepare(`
        INSERT INTO causeway_stream_windows (scope, store, key_id, window_start, window_end, key, value)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (scope, store, key_id, window_start, window_end) DO UPDATE SET value = excluded.value`),
      deleteWindow: prepare(`
        DELETE FROM causeway_stream_windows
        WHERE scope = ? AND store = ? AND key_id = ? AND window_start = ? AND window_end = ?`),
      putTime: prepare(`
        INSERT INTO causeway_stream_times (scope, store, stream_time) VALUES (?, ?, ?)
        ON CONFLICT (scope, store) DO UPDATE SET stream_time = excluded.stream_time`),
      putPosition: prepare(`
        INSERT INTO causeway_stream_positions (scope, source, position) VALUES (?, ?, ?)
        ON CONFLICT (scope, source) DO UPDATE SET position = excluded.position`),
      putOutbox: prepare(
        'INSERT OR IGNORE INTO causeway_stream_outbox (scope, id, sink, record) VALUES (?, ?, ?, ?)',
      ),
      deleteOutbox: prepare('DELETE FROM causeway_stream_outbox WHERE scope = ? AND id = ?'),
      positions: prepare('SELECT source, position FROM causeway_stream_positions WHERE scope = ?'),
      entries: prepare(
        'SELECT store, key_id, key, value FROM causeway_stream_entries WHERE scope = ?',
      ),
      windows: prepare(`
        SELECT store, key_id, key, value, window_start, window_end
        FROM causeway_stream_windows WHERE scope = ?`),
      times: prepare('SELECT store, stream_time FROM causeway_stream_times WHERE scope = ?'),
      outbox: prepare(
        'SELECT id, sink, record FROM causeway_stream_outbox WHERE scope = ? ORDER BY seq',
      ),
      owners: prepare(`
        SELECT scope, owner, generation, lease_expires_at FROM causeway_stream_scopes
        WHERE substr(scope, 1, length(?)) = ?`),
    };
  }

  claim(request: ClaimRequest): Promise<number | undefined> {
    return runOnFile(this.#db, 'write', () => {
      const row = this.#sql.claim.get({
        scope: request.scope,
        owner: request.owner,
        leaseUntil: request.leaseUntil,
        now: request.now,
        takeOver: request.takeOver ? 1 : 0,
      }) as { generation: number } | undefined;
      return row?.generation;
    });
  }

  load(scope: string): Promise<StoredState> {
    const sql = this.#sql;
    return runOnFile(this.#db, 'read', () =>
      storedStateOf({
        positions: sql.positions.all(scope) as { source: string; position: string }[],
        times: sql.times.all(scope) as { store: string; stream_time: number }[],
        entries: sql.entries.all(scope) as EntryRow[],
        windows: sql.windows.all(scope) as WindowRow[],
      }),
    );
  }

  write(
    scope: string,
    generation: number,
    leaseUntil: number,
    changes: StateChanges,
  ): Promise<void> {
    const sql = this.#sql;
    return runOnFile(this.#db, 'write', () =>
      this.#db
        .transaction(() => {
          if (sql.fence.run(leaseUntil, Date.now(), scope, generation).changes === 0)
            throw new StateFencedError(scope, generation);
          for (const row of changes.keyValues) {
            if (row.value === undefined) sql.deleteEntry.run(scope, row.store, row.keyId);
            else sql.putEntry.run(scope, row.store, row.keyId, row.key, row.value);
          }
          for (const row of changes.windows) {
            if (row.value === undefined)
              sql.deleteWindow.run(scope, row.store, row.keyId, row.start, row.end);
            else
              sql.putWindow.run(
                scope,
                row.store,
                row.keyId,
                row.start,
                row.end,
                row.key,
                row.value,
              );
          }
          for (const [store, time] of changes.streamTimes) sql.putTime.run(scope, store, time);
          for (const [source, position] of changes.positions)
            sql.putPosition.run(scope, source, position);
          for (const row of changes.outbox) sql.putOutbox.run(scope, row.id, row.sink, row.record);
          for (const { spec, write } of tableWritesOf(this.#specs, changes.tableRows)) {
            const statement = tableWriteSql(spec, write, () => '?');
            let prepared = this.#tableStatements.get(statement.text);
            if (!prepared)
              this.#tableStatements.set(
                statement.text,
                (prepared = this.#db.prepare(statement.text)),
              );
            prepared.run(statement.values.map(sqliteValue));
          }
        })
        .immediate(),
    );
  }

  renew(scope: string, generation: number, leaseUntil: number): Promise<void> {
    return runOnFile(this.#db, 'write', () => {
      if (this.#sql.fence.run(leaseUntil, Date.now(), scope, generation).changes === 0)
        throw new StateFencedError(scope, generation);
    });
  }

  release(scope: string, generation: number): Promise<void> {
    return runOnFile(this.#db, 'write', () => {
      this.#sql.release.run(Date.now(), scope, generation);
    });
  }

  undelivered(scope: string): Promise<OutboxRow[]> {
    return runOnFile(this.#db, 'read', () => this.#sql.outbox.all(scope) as OutboxRow[]);
  }

  acknowledge(scope: string, ids: readonly string[]): Promise<void> {
    return runOnFile(this.#db, 'write', () =>
      this.#db.transaction(() => {
        for (const id of ids) this.#sql.deleteOutbox.run(scope, id);
      })(),
    );
  }

  owners(prefix: string): Promise<ScopeOwner[]> {
    return runOnFile(this.#db, 'read', () =>
      (this.#sql.owners.all(prefix, prefix) as ScopeRow[]).map(scopeOwnerOf),
    );
  }
}

/** better-sqlite3 binds numbers, strings and null; booleans become 0/1. */
function sqliteValue(value: SqlValue): string | number | null {
  return typeof value === 'boolean' ? (value ? 1 : 0) : value;
}
