import type { Statement } from 'better-sqlite3';
import { systemClock, type Clock } from '../../core/clock.js';
import { StoreClosedError } from '../../core/errors.js';
import type { CheckpointStore } from '../../event-store/checkpoint-store.js';
import { addressOf, ensureSchema, toStoreError, type SqliteDatabase } from './sqlite-schema.js';
import { gateFor, type SqliteFileGate } from './sqlite-transaction.js';

/**
 * Subscription checkpoints in the same file as the events, so a projection that writes its
 * read model and its checkpoint on one connection can do both in one transaction.
 */
export class SqliteCheckpointStore implements CheckpointStore {
  readonly #db: SqliteDatabase;
  readonly #gate: SqliteFileGate;
  readonly #clock: Clock;
  readonly #load: Statement<[string], number>;
  readonly #store: Statement<[string, number, number]>;
  readonly #delete: Statement<[string]>;

  constructor(db: SqliteDatabase, options: { clock?: Clock } = {}) {
    this.#db = db;
    this.#gate = gateFor(db);
    this.#clock = options.clock ?? systemClock;
    ensureSchema(db);
    this.#load = db
      .prepare<[string], number>('SELECT position FROM causeway_checkpoints WHERE name = ?')
      .pluck();
    this.#store = db.prepare(
      `INSERT INTO causeway_checkpoints (name, position, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    );
    this.#delete = db.prepare('DELETE FROM causeway_checkpoints WHERE name = ?');
  }

  async load(name: string): Promise<number | undefined> {
    return this.#run('read', () => this.#load.get(name));
  }

  async store(name: string, position: number): Promise<void> {
    await this.#run('write', () => this.#store.run(name, position, this.#clock.now().getTime()));
  }

  async delete(name: string): Promise<void> {
    await this.#run('write', () => this.#delete.run(name));
  }

  /** Waits its turn while this process holds a transaction on the file (see sqlite-transaction.ts). */
  #run<T>(access: 'read' | 'write', work: () => T): T | Promise<T> {
    if (!this.#db.open) throw new StoreClosedError();
    return this.#gate.run(this.#db, access, () => {
      if (!this.#db.open) throw new StoreClosedError();
      try {
        return work();
      } catch (error) {
        throw toStoreError(error, addressOf(this.#db.name));
      }
    });
  }
}
