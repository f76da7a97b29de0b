import type { Statement } from 'better-sqlite3';
import { systemClock, type Clock } from '../../core/clock.js';
import { StoreClosedError } from '../../core/errors.js';
import type { CheckpointStore } from '../../event-store/checkpoint-store.js';
import { addressOf, ensureSchema, toStoreError, type SqliteDatabase } from './sqlite-schema.js';

/**
 * Subscription checkpoints in the same file as the events, so a projection that writes its
 * read model and its checkpoint on one connection can do both in one transaction.
 */
export class SqliteCheckpointStore implements CheckpointStore {
  readonly #db: SqliteDatabase;
  readonly #clock: Clock;
  readonly #load: Statement<[string], number>;
  readonly #store: Statement<[string, number, number]>;
  readonly #delete: Statement<[string]>;

  constructor(db: SqliteDatabase, options: { clock?: Clock } = {}) {
    this.#db = db;
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
    return this.#run(() => this.#load.get(name));
  }

  async store(name: string, position: number): Promise<void> {
    this.#run(() => this.#store.run(name, position, this.#clock.now().getTime()));
  }

  async delete(name: string): Promise<void> {
    this.#run(() => this.#delete.run(name));
  }

  #run<T>(work: () => T): T {
    if (!this.#db.open) throw new StoreClosedError();
    try {
      return work();
    } catch (error) {
      throw toStoreError(error, addressOf(this.#db.name));
    }
  }
}
