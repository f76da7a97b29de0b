import { AsyncLocalStorage } from 'node:async_hooks';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { StoreClosedError, ValidationError } from '../../core/errors.js';
import { addressOf, toStoreError, type SqliteDatabase } from './sqlite-schema.js';

/*
 * Why a gate. better-sqlite3 is synchronous, but projection batches and appends with inline
 * projections run async handlers inside a transaction. Two things go wrong without care:
 *
 * 1. Joining. While `BEGIN IMMEDIATE … await work() … COMMIT` is open on a connection, any
 *    other task of this process that uses the same connection runs inside that transaction:
 *    its writes commit or roll back with it and its reads see uncommitted rows.
 * 2. Self-deadlock. If another connection of this process to the same file wants the write
 *    lock meanwhile, SQLite's busy handler waits *synchronously* (busy_timeout): the event
 *    loop stops, so the transaction holding the lock can never reach its COMMIT. After 5 s the
 *    waiter fails with SQLITE_BUSY — a stall, then an error, on every overlap.
 *
 * So every connection to one file in this process shares one gate. An async transaction holds
 * it from BEGIN to COMMIT. A synchronous write (a plain append, a lease update…) runs at once
 * when the gate is free — the fast path costs one branch — and otherwise waits for it
 * asynchronously, so no connection of this process ever busy-waits on a lock this process
 * holds. Reads through another connection never wait: WAL shows them the last committed state.
 * Reads through the holding connection wait, or they would see uncommitted rows. Other
 * processes are other event loops, so there the ordinary busy_timeout wait is correct.
 *
 * Code running *inside* an open transaction (an inline handler, a batch's work) is recognised
 * through an AsyncLocalStorage token: on the holding connection it runs directly (it is part
 * of that transaction); a write through another connection would wait for itself forever, so
 * it fails at once with a message saying what to do instead.
 */

type Access = 'read' | 'write';

const BRAND = Symbol.for('causeway.sqlite.transaction');

/**
 * The handle inline projections receive from the SQLite event store: the connection whose
 * transaction is open. Valid only until that transaction ends.
 */
export class SqliteTransaction {
  readonly [BRAND] = true;
  #open = true;

  constructor(readonly database: SqliteDatabase) {}

  get open(): boolean {
    return this.#open;
  }

  /** Throws if the transaction has ended: a late write would land outside it. */
  assertOpen(): void {
    if (!this.#open) {
      throw new ValidationError('Transaction ended', [
        {
          path: ['session'],
          message:
            'this read-model session belonged to a transaction that has committed or rolled back; await every write inside the handler',
        },
      ]);
    }
  }

  /** @internal */
  end(): void {
    this.#open = false;
  }
}

/** Recognises a handle even when two copies of the package are loaded. */
export function isSqliteTransaction(value: unknown): value is SqliteTransaction {
  return (
    typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true
  );
}

const inside = new AsyncLocalStorage<object>();

export class SqliteFileGate {
  #locked = false;
  #waiters: (() => void)[] = [];
  #holder: { db: SqliteDatabase; token: object } | undefined;
  /** Writers holding writes issued for a batch that has not taken the gate yet. */
  readonly #batches = new Set<{ flush(): Promise<void> }>();

  /** Whether some work of this process holds the file now (an async transaction, a queue). */
  get busy(): boolean {
    return this.#locked;
  }

  /** Whether the calling task runs inside the async transaction that holds the file now. */
  isWithin(): boolean {
    return this.#holder !== undefined && inside.getStore() === this.#holder.token;
  }

  /**
   * Runs `work` — synchronous statements on `db` — now if nothing this process holds can
   * interfere, else once the open transaction has ended.
   */
  run<T>(db: SqliteDatabase, access: Access, work: () => T): T | Promise<T> {
    if (!this.#locked) return work();
    const holder = this.#holder;
    if (holder) {
      const within = inside.getStore() === holder.token;
      if (holder.db === db) {
        if (within) return work();
      } else if (access === 'read') {
        return work();
      } else if (within) {
        throw selfDeadlock(db);
      }
    }
    return this.#queued(work);
  }

  /**
   * For synchronous APIs that cannot wait: throws where `run` would have to queue a write,
   * rather than stall the event loop on a lock this process holds or join a transaction.
   */
  assertSyncWrite(db: SqliteDatabase): void {
    const holder = this.#holder;
    if (!holder || (holder.db === db && inside.getStore() === holder.token)) return;
    throw new ValidationError('SQLite file busy in this process', [
      {
        path: ['transaction'],
        message: `an async transaction of this process is open on ${db.name}; a synchronous write now would wait for it while blocking it. Use the async store API, which waits its turn`,
      },
    ]);
  }

  /**
   * A group commit has writes waiting for their batch: a transaction opening before that batch
   * runs must let it go first (see `transaction`).
   */
  batchPending(writer: { flush(): Promise<void> }): void {
    this.#batches.add(writer);
  }

  /** How many writers have a batch waiting for its turn (for tests). */
  get pendingBatches(): number {
    return this.#batches.size;
  }

  /** The writer's batch took its turn: the gate need not remember it (nor keep it alive). */
  batchTaken(writer: { flush(): Promise<void> }): void {
    this.#batches.delete(writer);
  }

  /**
   * `BEGIN IMMEDIATE`, `work`, `COMMIT` on `db`, holding the file's gate throughout; rolls
   * back if `work` or the commit throws.
   *
   * Writes issued before the transaction and still waiting for their group-commit batch (a
   * microtask away) commit first: otherwise a write the transaction makes, or the transaction
   * itself, would get an earlier position than a write of the same key issued before it.
   */
  async transaction<T>(
    db: SqliteDatabase,
    work: (transaction: SqliteTransaction) => Promise<T>,
  ): Promise<T> {
    if (this.#holder && inside.getStore() === this.#holder.token) {
      throw new ValidationError('Nested SQLite transaction', [
        {
          path: ['transaction'],
          message: `a transaction on ${db.name} is already open in this task; do the work through its session`,
        },
      ]);
    }
    // Flushing takes the gate now when it is free, else queues ahead of this transaction.
    for (const writer of this.#batches) void writer.flush();
    this.#batches.clear();
    await this.#acquire();
    const token = {};
    this.#holder = { db, token };
    const transaction = new SqliteTransaction(db);
    try {
      return await inside.run(token, async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await work(transaction);
          db.exec('COMMIT');
          return result;
        } catch (error) {
          rollback(db);
          throw error;
        }
      });
    } finally {
      transaction.end();
      this.#holder = undefined;
      this.#release();
    }
  }

  async #queued<T>(work: () => T): Promise<T> {
    await this.#acquire();
    try {
      return work();
    } finally {
      this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Hands the gate straight to the next waiter, so nobody can slip in between. */
  #release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#locked = false;
  }
}

function rollback(db: SqliteDatabase): void {
  // SQLite rolls back by itself after some errors (SQLITE_FULL, I/O); the original error
  // is the one worth reporting.
  if (!db.open || !db.inTransaction) return;
  try {
    db.exec('ROLLBACK');
  } catch {
    // Nothing left to undo.
  }
}

function selfDeadlock(db: SqliteDatabase): ValidationError {
  return new ValidationError('SQLite write would wait for itself', [
    {
      path: ['transaction'],
      message: `this task holds a transaction on ${db.name} and tried to write through another connection to the same file; write through the transaction's session (or after it commits)`,
    },
  ]);
}

/** Gates by file identity; entries go when no connection refers to them any more. */
const gates = new Map<string, WeakRef<SqliteFileGate>>();
const forgotten = new FinalizationRegistry<string>((key) => {
  if (gates.get(key)?.deref() === undefined) gates.delete(key);
});
const byConnection = new WeakMap<SqliteDatabase, SqliteFileGate>();

/** The gate every connection of this process to `db`'s file shares. */
export function gateFor(db: SqliteDatabase): SqliteFileGate {
  const known = byConnection.get(db);
  if (known) return known;
  // An in-memory database is private to its connection.
  const key = db.memory ? undefined : fileIdentity(db.name);
  let gate = key === undefined ? undefined : gates.get(key)?.deref();
  if (!gate) {
    gate = new SqliteFileGate();
    if (key !== undefined) {
      gates.set(key, new WeakRef(gate));
      forgotten.register(gate, key);
    }
  }
  byConnection.set(db, gate);
  return gate;
}

/** Symlinks and relative paths to one file must meet at one gate. */
function fileIdentity(filename: string): string {
  try {
    return realpathSync(filename);
  } catch {
    return resolve(filename);
  }
}

/**
 * Runs your own synchronous statements or `db.transaction(…)` on a connection to a Causeway
 * file without colliding with this process's async transactions (inline appends, projection
 * batches): at once when none is open, else right after it ends. On the event store's own
 * connection this keeps your writes out of an open append; on another connection it avoids a
 * synchronous busy wait that would stall the event loop until SQLITE_BUSY.
 */
export async function runSerialized<T>(db: SqliteDatabase, work: () => T): Promise<T> {
  return gateFor(db).run(db, 'write', work);
}

/**
 * Runs async `work` in one `BEGIN IMMEDIATE … COMMIT` on `db`, rolling back if it throws. The
 * handle it receives is what the outbox's `write`, read-model sessions and your own
 * statements (`transaction.database`) go through. Other tasks of this process wait for the
 * commit instead of joining the transaction (see the gate above).
 */
export function withTransaction<T>(
  db: SqliteDatabase,
  work: (transaction: SqliteTransaction) => Promise<T>,
): Promise<T> {
  return gateFor(db).transaction(db, work);
}

/**
 * How a store runs its synchronous statements: through the file's gate (waiting its turn
 * while this process holds a transaction), failing with `StoreClosedError` on a closed
 * connection and with typed errors for a busy or broken file.
 */
export async function runOnFile<T>(db: SqliteDatabase, access: Access, work: () => T): Promise<T> {
  if (!db.open) throw new StoreClosedError();
  return gateFor(db).run(db, access, () => {
    if (!db.open) throw new StoreClosedError();
    try {
      return work();
    } catch (error) {
      throw toStoreError(error, addressOf(db.name));
    }
  });
}
