import type { Statement } from 'better-sqlite3';
import { StoreClosedError } from '../../core/errors.js';
import type { InboxStore } from '../../messaging/inbox.js';
import { addressOf, ensureSchema, toStoreError, type SqliteDatabase } from './sqlite-schema.js';
import {
  gateFor,
  runOnFile,
  type SqliteFileGate,
  type SqliteTransaction,
} from './sqlite-transaction.js';

/**
 * The inbox in the SQLite file: `process` opens `BEGIN IMMEDIATE`, records
 * `(group, messageId)` and runs the handler's work with the open transaction, so the record
 * and the handler's writes (through `transaction.database`, a read-model session or the
 * outbox) commit together. A redelivery finds the record and the work does not run; work
 * that throws rolls back both. Concurrent deliveries of one message cannot both run it:
 * transactions on the file are serialized (this process's by its gate, other processes' by
 * SQLite's write lock), and the second one finds the first one's record.
 */
export class SqliteInboxStore implements InboxStore<SqliteTransaction> {
  readonly #db: SqliteDatabase;
  readonly #gate: SqliteFileGate;
  readonly #record: Statement<[string, string, number]>;
  readonly #cleanup: Statement<[number]>;

  constructor(database: SqliteDatabase) {
    this.#db = database;
    this.#gate = gateFor(database);
    ensureSchema(database);
    this.#record = database.prepare(
      `INSERT INTO causeway_inbox (group_name, message_id, processed_at) VALUES (?, ?, ?)
       ON CONFLICT DO NOTHING`,
    );
    this.#cleanup = database.prepare('DELETE FROM causeway_inbox WHERE processed_at < ?');
  }

  async process(
    group: string,
    messageId: string,
    work: (transaction: SqliteTransaction) => Promise<void>,
  ): Promise<'processed' | 'duplicate'> {
    const db = this.#assertOpen();
    try {
      return await this.#gate.transaction(db, async (transaction) => {
        if (this.#record.run(group, messageId, Date.now()).changes === 0) return 'duplicate';
        await work(transaction);
        return 'processed';
      });
    } catch (error) {
      throw toStoreError(error, addressOf(db.name));
    }
  }

  async cleanup(olderThan: Date): Promise<number> {
    return runOnFile(this.#db, 'write', () => this.#cleanup.run(olderThan.getTime()).changes);
  }

  #assertOpen(): SqliteDatabase {
    if (!this.#db.open) throw new StoreClosedError();
    return this.#db;
  }
}
