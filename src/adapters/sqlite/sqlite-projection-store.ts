import Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../core/clock.js';
import { StoreClosedError, StoreUnavailableError, ValidationError } from '../../core/errors.js';
import {
  LeaseLostError,
  type ProjectionDefinition,
  type ProjectionState,
  type ProjectionStore,
} from '../../projections/projection.js';
import {
  physicalTableName,
  type ReadModelSession,
  type TableDefinition,
} from '../../projections/read-model.js';
import { SqliteReaderSession, SqliteSession } from './sqlite-read-model.js';
import {
  assertTableMatches,
  assertValidTable,
  createTableSql,
  viewSql,
} from './sqlite-read-model-schema.js';
import { quote, type SqliteTarget } from './sqlite-sql.js';
import {
  addressOf,
  openSqliteDatabase,
  toStoreError,
  type SqliteDatabase,
} from './sqlite-schema.js';
import {
  readerStatements,
  toState,
  writerStatements,
  type Key,
  type StateRow,
} from './sqlite-projection-state.js';
import { gateFor, isSqliteTransaction, type SqliteFileGate } from './sqlite-transaction.js';

export interface SqliteProjectionStoreOptions {
  /** The Causeway SQLite file (the event store's). Default `./causeway.db`. */
  filename?: string;
  /**
   * A connection to that file instead of `filename`, e.g. `driver.database`. The store opens
   * its own two connections to the same file (see the class comment) and never touches or
   * closes this one, so it may be in use elsewhere.
   */
  database?: SqliteDatabase;
  clock?: Clock;
}

/**
 * Read models, checkpoints and leases in the event store's SQLite file. A batch's rows and its
 * checkpoint commit in one transaction, so after any crash the read model equals a replay of
 * the log up to the checkpoint.
 *
 * It keeps two connections of its own. The writer runs batches (`BEGIN IMMEDIATE`, the async
 * handlers, `COMMIT`) holding the file's gate, so no other task of this process can join the
 * open transaction or busy-wait on its lock (see sqlite-transaction.ts). The reader is
 * read-only and serves `reader()`, `get()` and `list()`: under WAL it sees only committed
 * data, so queries never see rows of an in-flight batch and never wait for one. Owning both
 * means no code outside this store can ever run a statement inside a batch.
 */
export class SqliteProjectionStore implements ProjectionStore {
  readonly address: string;
  readonly #writer: SqliteDatabase;
  readonly #reader: SqliteDatabase;
  readonly #gate: SqliteFileGate;
  readonly #clock: Clock;
  readonly #w: ReturnType<typeof writerStatements>;
  readonly #r: ReturnType<typeof readerStatements>;
  readonly #readerSession: SqliteReaderSession;
  #closed = false;

  constructor(options: SqliteProjectionStoreOptions = {}) {
    if (options.database !== undefined && options.filename !== undefined)
      throw invalid(['database'], 'pass either `filename` or `database`, not both');
    if (options.database?.memory)
      throw invalid(
        ['database'],
        'an in-memory database cannot be opened twice; use a file (or MemoryProjectionStore)',
      );
    const filename = options.database?.name ?? options.filename ?? './causeway.db';
    this.#clock = options.clock ?? systemClock;
    this.#writer = openSqliteDatabase(filename);
    this.address = addressOf(this.#writer.name);
    try {
      this.#reader = new Database(filename, { readonly: true, fileMustExist: true });
      this.#reader.pragma('busy_timeout = 5000');
    } catch (cause) {
      this.#writer.close();
      throw new StoreUnavailableError(this.address, { cause });
    }
    this.#gate = gateFor(this.#writer);
    this.#w = writerStatements(this.#writer);
    this.#r = readerStatements(this.#reader);
    this.#readerSession = new SqliteReaderSession({
      db: this.#reader,
      address: this.address,
      check: () => this.#assertOpen(),
      readOnly: true,
    });
  }

  async prepare(projection: ProjectionDefinition): Promise<ProjectionState> {
    assertValidProjection(projection);
    const key = keyOf(projection);
    const row = await this.#write(() =>
      this.#writer
        .transaction(() => {
          for (const table of projection.tables) {
            const physical = physicalTableName(table, projection.version);
            for (const sql of createTableSql(table, physical)) this.#writer.exec(sql);
            assertTableMatches(this.#writer, table, physical);
          }
          const now = this.#clock.now().getTime();
          const first = this.#w.insert.run({ ...key, now }).changes > 0;
          const state = this.#w.state.get(key)!;
          if (state.status === 'active')
            for (const table of projection.tables)
              this.#point(table, projection.version, { replace: first });
          return state;
        })
        .immediate(),
    );
    return toState(row);
  }

  async get(name: string, version: number): Promise<ProjectionState | undefined> {
    const row = this.#read(() => this.#r.state.get({ name, version }));
    return row && toState(row);
  }

  async list(): Promise<ProjectionState[]> {
    return this.#read(() => this.#r.list.all()).map(toState);
  }

  async acquireLease(
    name: string,
    version: number,
    owner: string,
    ttlMs: number,
  ): Promise<boolean> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw invalid(['ttlMs'], 'must be a number > 0');
    return this.#write(() => {
      const now = this.#clock.now().getTime();
      const taken = this.#w.acquire.run({ name, version, owner, now, expires: now + ttlMs });
      if (taken.changes > 0) return true;
      this.#require({ name, version });
      return false;
    });
  }

  async releaseLease(name: string, version: number, owner: string): Promise<void> {
    await this.#write(() => this.#w.release.run({ name, version, owner }));
  }

  async applyBatch(
    projection: ProjectionDefinition,
    owner: string,
    fromPosition: number,
    toPosition: number,
    work: (session: ReadModelSession) => Promise<void>,
  ): Promise<void> {
    this.#assertOpen();
    const key = keyOf(projection);
    try {
      await this.#gate.transaction(this.#writer, async (transaction) => {
        const state = this.#require(key);
        const now = this.#clock.now().getTime();
        const held =
          state.leaseOwner === owner && state.leaseExpiresAt !== null && state.leaseExpiresAt > now;
        if (!held || state.position !== fromPosition)
          throw new LeaseLostError(projection.name, owner);
        const target: SqliteTarget = {
          db: this.#writer,
          address: this.address,
          // Not the store's open flag: `close()` lets a running batch finish first.
          check: () => transaction.assertOpen(),
          readOnly: false,
        };
        await work(new SqliteSession(target, projection));
        this.#w.advance.run({ ...key, position: toPosition, now: this.#clock.now().getTime() });
      });
    } catch (error) {
      throw toStoreError(error, this.address);
    }
  }

  async setPaused(name: string, version: number, paused: boolean): Promise<void> {
    await this.#update({ name, version }, 'paused', paused ? 1 : 0);
  }

  async setError(name: string, version: number, error: string | undefined): Promise<void> {
    await this.#update({ name, version }, 'error', error ?? null);
  }

  async reset(projection: ProjectionDefinition): Promise<void> {
    assertValidProjection(projection);
    const key = keyOf(projection);
    await this.#write(() =>
      this.#writer
        .transaction(() => {
          this.#require(key);
          for (const table of projection.tables)
            this.#writer.exec(`DELETE FROM ${quote(physicalTableName(table, key.version))}`);
          this.#w.advance.run({ ...key, position: 0, now: this.#clock.now().getTime() });
        })
        .immediate(),
    );
  }

  async activate(projection: ProjectionDefinition): Promise<void> {
    assertValidProjection(projection);
    const key = keyOf(projection);
    await this.#write(() =>
      this.#writer
        .transaction(() => {
          this.#require(key);
          this.#w.activate.run({ ...key, now: this.#clock.now().getTime() });
          for (const table of projection.tables) this.#point(table, key.version, { replace: true });
        })
        .immediate(),
    );
  }

  async drop(name: string, version: number, tables: readonly TableDefinition[]): Promise<void> {
    for (const table of tables) assertValidTable(table);
    await this.#write(() =>
      this.#writer
        .transaction(() => {
          for (const table of tables) {
            const physical = physicalTableName(table, version);
            // A view left pointing at a dropped table would fail every query through it.
            if (this.#w.viewSql.get(table.name) === viewSql(table, physical))
              this.#writer.exec(`DROP VIEW ${quote(table.name)}`);
            this.#writer.exec(`DROP TABLE IF EXISTS ${quote(physical)}`);
          }
          this.#w.remove.run({ name, version });
        })
        .immediate(),
    );
  }

  reader(): ReadModelSession {
    return this.#readerSession;
  }

  /**
   * The session inline projections write through: statements run on the event store's
   * connection, inside its open append transaction.
   */
  inlineSession(transaction: unknown, projection: ProjectionDefinition): ReadModelSession {
    if (!isSqliteTransaction(transaction))
      throw invalid(
        ['inline'],
        'the SQLite projection store only works with the SQLite event store',
      );
    if (gateFor(transaction.database) !== this.#gate)
      throw invalid(
        ['inline'],
        `the event store's file ${addressOf(transaction.database.name)} is not this projection store's ${this.address}`,
      );
    return new SqliteSession(
      {
        db: transaction.database,
        address: this.address,
        check: () => transaction.assertOpen(),
        readOnly: false,
      },
      projection,
    );
  }

  /** Lets a batch still running on this store commit or fail, then closes its connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#gate.run(this.#writer, 'read', () => {
      if (this.#writer.open) this.#writer.close();
    });
    if (this.#reader.open) this.#reader.close();
  }

  /** Points the view `<table>` at this version's table; atomic with the caller's transaction. */
  #point(table: TableDefinition, version: number, options: { replace: boolean }): void {
    const sql = viewSql(table, physicalTableName(table, version));
    const current = this.#w.viewSql.get(table.name);
    if (current === sql || (current !== undefined && !options.replace)) return;
    this.#writer.exec(`DROP VIEW IF EXISTS ${quote(table.name)}`);
    this.#writer.exec(sql);
  }

  async #update(key: Key, column: 'paused' | 'error', value: number | string | null) {
    await this.#write(() => {
      const now = this.#clock.now().getTime();
      const statement = column === 'paused' ? this.#w.setPaused : this.#w.setError;
      if (statement.run({ ...key, value, now }).changes === 0) this.#require(key);
    });
  }

  #require(key: Key): StateRow {
    const state = this.#w.state.get(key);
    if (!state)
      throw invalid(
        ['projection'],
        `${key.name} v${key.version} was never prepared`,
        'Unknown projection',
      );
    return state;
  }

  #write<T>(work: () => T): T | Promise<T> {
    this.#assertOpen();
    return this.#gate.run(this.#writer, 'write', () => {
      this.#assertOpen();
      try {
        return work();
      } catch (error) {
        throw toStoreError(error, this.address);
      }
    });
  }

  #read<T>(work: () => T): T {
    this.#assertOpen();
    try {
      return work();
    } catch (error) {
      throw toStoreError(error, this.address);
    }
  }

  #assertOpen(): void {
    if (this.#closed || !this.#writer.open) throw new StoreClosedError();
  }
}

/** A projection store in the SQLite file at `filename`, or the file `database` is open on. */
export function createSqliteProjectionStore(
  options: SqliteProjectionStoreOptions = {},
): SqliteProjectionStore {
  return new SqliteProjectionStore(options);
}

function keyOf(projection: ProjectionDefinition): Key {
  return { name: projection.name, version: projection.version };
}

/** The version becomes part of table names, so it is checked here as well as by `defineProjection`. */
function assertValidProjection(projection: ProjectionDefinition): void {
  if (!Number.isSafeInteger(projection.version) || projection.version < 1)
    throw invalid(['version'], 'must be an integer >= 1', 'Invalid projection');
  for (const table of projection.tables) assertValidTable(table);
}

function invalid(path: string[], message: string, title = 'Invalid SQLite projection store use') {
  return new ValidationError(title, [{ path, message }]);
}
