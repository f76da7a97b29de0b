import type { Statement, Transaction } from 'better-sqlite3';
import { serializeJson } from '../../core/serializer.js';
import {
  compareTimers,
  type TimerRecord,
  type TimerSchedule,
  type TimerStore,
} from '../../sagas/timer-store.js';
import { timerFromRow, type TimerRow } from '../sql/process-rows.js';
import { ensureSchema, type SqliteDatabase } from './sqlite-schema.js';
import { gateFor, runOnFile, type SqliteFileGate } from './sqlite-transaction.js';

const COLUMNS = `id, scope, key, name, due_at, payload, created_at, lease_owner,
  lease_expires_at, fired_at, attempts`;

/** Named, not inferred: the declaration build must be able to write the type down. */
interface Statements {
  schedule: Transaction<(row: ReturnType<typeof timerRow>) => void>;
  cancel: Statement<[{ scope: string; key: string; name: string }]>;
  cancelAll: Statement<[{ scope: string; key: string }]>;
  get: Statement<[string], TimerRow>;
  pending: Statement<[string, string], TimerRow>;
  claim: Transaction<(params: ClaimParams) => TimerRow[]>;
  fire: Statement<[{ id: string; owner: string; now: number }]>;
  release: Statement<[{ id: string; owner: string; due: number }]>;
  nextDue: Statement<[{ scopes: string | null }], number | null>;
  cleanup: Statement<[number]>;
}

/** Statements prepared once per connection: the process store runs them on its own. */
const prepared = new WeakMap<SqliteDatabase, Statements>();

/**
 * The timer statements of a connection, for code already inside a transaction on it (the
 * SQLite process store schedules, cancels and fires timers in its own transaction).
 * @internal
 */
export function timerStatements(db: SqliteDatabase): Statements {
  let statements = prepared.get(db);
  if (!statements) prepared.set(db, (statements = prepare(db)));
  return statements;
}

/** Schedulers listening per file, woken by a schedule through any connection of this process. */
const listeners = new WeakMap<SqliteFileGate, Set<() => void>>();

function listenersFor(db: SqliteDatabase): Set<() => void> {
  const gate = gateFor(db);
  let set = listeners.get(gate);
  if (!set) listeners.set(gate, (set = new Set()));
  return set;
}

/**
 * Wakes this process's schedulers on the next turn of the event loop, when the transaction
 * that scheduled has committed (or, if it is async, holds the gate the claim waits for).
 * @internal
 */
export function announceTimer(db: SqliteDatabase): void {
  const set = listenersFor(db);
  if (set.size === 0) return;
  setImmediate(() => {
    for (const listener of [...set]) listener();
  });
}

/**
 * Durable timers in the SQLite file (`causeway_timers`). A claim is one `UPDATE … RETURNING`
 * over the due index inside `BEGIN IMMEDIATE`: SQLite has one writer at a time, across
 * processes too, so every claim sees every earlier one and a timer is never held by two live
 * schedulers. Marking fired is conditional on the lease and on `fired_at IS NULL`.
 *
 * ```ts
 * const db = openSqliteDatabase('./app.db');
 * const timers = new SqliteTimerStore(db);
 * ```
 */
export class SqliteTimerStore implements TimerStore {
  readonly #db: SqliteDatabase;
  readonly #statements: Statements;

  constructor(database: SqliteDatabase) {
    this.#db = database;
    ensureSchema(database);
    this.#statements = timerStatements(database);
  }

  async schedule(timer: TimerSchedule): Promise<void> {
    const row = timerRow(timer, Date.now());
    await this.#run(() => this.#statements.schedule.immediate(row));
    announceTimer(this.#db);
  }

  async cancel(scope: string, key: string, name: string): Promise<boolean> {
    return this.#run(() => this.#statements.cancel.run({ scope, key, name }).changes > 0);
  }

  async get(id: string): Promise<TimerRecord | undefined> {
    const row = await this.#run(() => this.#statements.get.get(id), 'read');
    return row && timerFromRow(row);
  }

  async pending(scope: string, key: string): Promise<TimerRecord[]> {
    const rows = await this.#run(() => this.#statements.pending.all(scope, key), 'read');
    return rows.map(timerFromRow);
  }

  async claimDue(
    owner: string,
    now: Date,
    limit: number,
    leaseMs: number,
    scopes?: readonly string[],
  ): Promise<TimerRecord[]> {
    const at = now.getTime();
    const rows = await this.#run(() =>
      this.#statements.claim.immediate({
        owner,
        now: at,
        until: at + leaseMs,
        limit,
        scopes: scopeList(scopes),
      }),
    );
    return rows.map(timerFromRow).sort(compareTimers);
  }

  async markFired(id: string, owner: string, now: Date): Promise<boolean> {
    return this.#run(
      () => this.#statements.fire.run({ id, owner, now: now.getTime() }).changes > 0,
    );
  }

  async release(id: string, owner: string, retryAt: Date): Promise<void> {
    await this.#run(() => this.#statements.release.run({ id, owner, due: retryAt.getTime() }));
  }

  async nextDueAt(scopes?: readonly string[]): Promise<Date | undefined> {
    const due = await this.#run(
      () => this.#statements.nextDue.get({ scopes: scopeList(scopes) }),
      'read',
    );
    return due === undefined || due === null ? undefined : new Date(due);
  }

  async cleanup(olderThan: Date): Promise<number> {
    return this.#run(() => this.#statements.cleanup.run(olderThan.getTime()).changes);
  }

  onSchedule(listener: () => void): () => void {
    const set = listenersFor(this.#db);
    set.add(listener);
    return () => set.delete(listener);
  }

  #run<T>(work: () => T, access: 'read' | 'write' = 'write'): Promise<T> {
    return runOnFile(this.#db, access, work);
  }
}

/** The insert's parameters; the payload is serialized before any write. @internal */
export function timerRow(timer: TimerSchedule, now: number) {
  return {
    id: timer.id,
    scope: timer.scope,
    key: timer.key,
    name: timer.name,
    due: timer.dueAt.getTime(),
    payload: serializeJson(timer.payload ?? null, `payload of timer ${timer.name}`),
    now,
  };
}

/** `scopes` as the statements take it: a JSON array, or NULL for every scope. */
function scopeList(scopes: readonly string[] | undefined): string | null {
  return scopes === undefined ? null : JSON.stringify(scopes);
}

const IN_SCOPES = '(@scopes IS NULL OR scope IN (SELECT value FROM json_each(@scopes)))';

interface ClaimParams {
  owner: string;
  now: number;
  until: number;
  limit: number;
  scopes: string | null;
}

function prepare(db: SqliteDatabase): Statements {
  const cancel = db.prepare<[{ scope: string; key: string; name: string }]>(
    `DELETE FROM causeway_timers
     WHERE scope = @scope AND key = @key AND name = @name AND fired_at IS NULL`,
  );
  const insert = db.prepare<[ReturnType<typeof timerRow>]>(
    `INSERT INTO causeway_timers (id, scope, key, name, due_at, payload, created_at)
     VALUES (@id, @scope, @key, @name, @due, @payload, @now)`,
  );
  const claim = db.prepare<[ClaimParams], TimerRow>(
    `UPDATE causeway_timers
     SET lease_owner = @owner, lease_expires_at = @until, attempts = attempts + 1
     WHERE id IN (
       SELECT id FROM causeway_timers
       WHERE fired_at IS NULL AND due_at <= @now
         AND (lease_expires_at IS NULL OR lease_expires_at <= @now) AND ${IN_SCOPES}
       ORDER BY due_at, id LIMIT @limit
     )
     RETURNING ${COLUMNS}`,
  );
  return {
    /** Replace-then-insert: must run inside a transaction (it does: `.immediate` or the caller's). */
    schedule: db.transaction((row: ReturnType<typeof timerRow>) => {
      cancel.run({ scope: row.scope, key: row.key, name: row.name });
      insert.run(row);
    }),
    cancel,
    cancelAll: db.prepare<[{ scope: string; key: string }]>(
      'DELETE FROM causeway_timers WHERE scope = @scope AND key = @key AND fired_at IS NULL',
    ),
    get: db.prepare<[string], TimerRow>(`SELECT ${COLUMNS} FROM causeway_timers WHERE id = ?`),
    pending: db.prepare<[string, string], TimerRow>(
      `SELECT ${COLUMNS} FROM causeway_timers
       WHERE scope = ? AND key = ? AND fired_at IS NULL ORDER BY due_at, id`,
    ),
    claim: db.transaction((params: ClaimParams) => claim.all(params)),
    fire: db.prepare<[{ id: string; owner: string; now: number }]>(
      `UPDATE causeway_timers SET fired_at = @now
       WHERE id = @id AND fired_at IS NULL AND lease_owner = @owner AND lease_expires_at > @now`,
    ),
    release: db.prepare<[{ id: string; owner: string; due: number }]>(
      `UPDATE causeway_timers SET lease_owner = NULL, lease_expires_at = NULL, due_at = @due
       WHERE id = @id AND fired_at IS NULL AND lease_owner = @owner`,
    ),
    nextDue: db
      .prepare<[{ scopes: string | null }], number | null>(
        `SELECT min(due_at) FROM causeway_timers WHERE fired_at IS NULL AND ${IN_SCOPES}`,
      )
      .pluck(),
    cleanup: db.prepare<[number]>(
      'DELETE FROM causeway_timers WHERE fired_at IS NOT NULL AND fired_at < ?',
    ),
  };
}
