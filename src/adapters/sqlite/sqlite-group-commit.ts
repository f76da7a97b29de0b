import { StoreClosedError } from '../../core/errors.js';
import { addressOf, toStoreError, type SqliteDatabase } from './sqlite-schema.js';
import { gateFor, type SqliteFileGate } from './sqlite-transaction.js';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/*
 * Why group commit. With `synchronous=FULL` every COMMIT waits for an fsync, and that wait is
 * most of what a small write costs. A consumer's handlers finish together (they start together
 * from one claim), so their acks arrive in the same turn of the event loop; so do a publish and
 * the claim it wakes. Writes issued in one turn are collected and run in one `BEGIN IMMEDIATE …
 * COMMIT`: one fsync for all of them, and each caller still hears back only once its write is
 * durable. Each write runs in its own savepoint, so one that fails is rolled back alone and
 * only its caller sees the error; a failed COMMIT fails them all (none of them committed).
 */

/**
 * Runs synchronous writes on one connection, batching those issued in the same turn of the
 * event loop into one immediate transaction. Takes its turn behind this process's other
 * writers to the file (see `SqliteFileGate`).
 */
export class SqliteGroupCommit {
  readonly #db: SqliteDatabase;
  readonly #gate: SqliteFileGate;
  readonly #transaction: { immediate(run: () => void): void };
  readonly #savepoint: (work: () => unknown) => unknown;
  #queue: Pending[] = [];

  constructor(database: SqliteDatabase) {
    this.#db = database;
    this.#gate = gateFor(database);
    // Prepared once: `db.transaction(fn)` builds its BEGIN/COMMIT statements on every call.
    this.#transaction = database.transaction((run: () => void) => run());
    // Called inside the open transaction, better-sqlite3 runs it as a SAVEPOINT.
    this.#savepoint = database.transaction((work: () => unknown) => work());
  }

  /** Runs `work` in the next batch; resolves with its result once that batch has committed. */
  run<T>(work: () => T): Promise<T> {
    // A write made inside this process's open async transaction is part of it: it runs there
    // and then, as the gate decides, never in a batch that would mix it with writes from
    // outside. Every other write joins the pending batch, even while the gate is taken: going
    // alone it would queue at the gate ahead of a batch still waiting for its microtask, and a
    // later write (same partition key) would get an earlier position than one issued before it.
    if (this.#gate.busy && this.#gate.isWithin()) return this.#alone(work);
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      // A microtask, not a timer: writes issued by callers resuming together (handlers
      // started by one claim) join, and a lone write waits for no turn of the event loop.
      if (this.#queue.length === 1) {
        queueMicrotask(() => void this.flush());
        this.#gate.batchPending(this);
      }
    });
  }

  /** Commits what is queued now (e.g. before the connection closes). */
  async flush(): Promise<void> {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.#gate.batchTaken(this);
    let outcomes: Outcome[];
    try {
      outcomes = await this.#gate.run(this.#db, 'write', () => this.#commit(batch));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    outcomes.forEach((outcome, i) => {
      const pending = batch[i]!;
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }

  async #alone<T>(work: () => T): Promise<T> {
    const [outcome] = await this.#gate.run(this.#db, 'write', () => this.#commit([{ work }]));
    if (!outcome?.ok) throw outcome?.error;
    return outcome.value as T;
  }

  #commit(batch: readonly Pick<Pending, 'work'>[]): Outcome[] {
    const db = this.#db;
    if (!db.open) throw new StoreClosedError();
    const outcomes: Outcome[] = [];
    try {
      this.#transaction.immediate(() => {
        if (batch.length === 1) {
          outcomes.push({ ok: true, value: batch[0]!.work() });
          return;
        }
        for (const { work } of batch) {
          try {
            outcomes.push({ ok: true, value: this.#savepoint(work) });
          } catch (error) {
            // Some errors (disk full, I/O) end the whole transaction: nothing in it committed.
            if (!db.inTransaction) throw error;
            outcomes.push({ ok: false, error: toStoreError(error, addressOf(db.name)) });
          }
        }
      });
    } catch (error) {
      throw toStoreError(error, addressOf(db.name));
    }
    return outcomes;
  }
}
