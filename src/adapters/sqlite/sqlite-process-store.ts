import type { Statement } from 'better-sqlite3';
import { StoreClosedError } from '../../core/errors.js';
import { ProcessConflictError } from '../../sagas/process-errors.js';
import { processFromRow, type ProcessRow } from '../sql/process-rows.js';
import type {
  ProcessInstance,
  ProcessStore,
  ProcessTransaction,
} from '../../sagas/process-store.js';
import { writeOutbox } from './sqlite-outbox.js';
import { addressOf, ensureSchema, toStoreError, type SqliteDatabase } from './sqlite-schema.js';
import {
  announceTimer,
  SqliteTimerStore,
  timerRow,
  timerStatements,
} from './sqlite-timer-store.js';
import { gateFor, runOnFile } from './sqlite-transaction.js';

const COLUMNS = 'manager, key, status, state, version, created_at, updated_at, completed_at';

/**
 * Process manager instances, timers, processed-message records (`causeway_inbox`, group
 * `process:<manager>`) and outbox rows in one SQLite file, so one `BEGIN IMMEDIATE` holds a
 * message's whole effect: processed record, new state, timers, fired marker, emitted
 * messages. SQLite has one writer at a time (across processes too), so loading an instance
 * inside the transaction already locks it.
 *
 * ```ts
 * const db = openSqliteDatabase('./app.db');
 * const store = new SqliteProcessStore(db);
 * const runtime = new ProcessManagerRuntime({ store, managers: [fulfilment] });
 * const scheduler = new TimerScheduler({ store: store.timers, fire: runtime.fireTimer });
 * ```
 */
export class SqliteProcessStore implements ProcessStore {
  readonly timers: SqliteTimerStore;
  readonly #db: SqliteDatabase;
  readonly #statements;

  constructor(database: SqliteDatabase) {
    this.#db = database;
    ensureSchema(database);
    this.timers = new SqliteTimerStore(database);
    this.#statements = prepare(database);
  }

  async get(manager: string, key: string): Promise<ProcessInstance | undefined> {
    const row = await runOnFile(this.#db, 'read', () => this.#statements.get.get(manager, key));
    return row && processFromRow(row);
  }

  async transaction<T>(work: (transaction: ProcessTransaction) => Promise<T>): Promise<T> {
    const db = this.#db;
    if (!db.open) throw new StoreClosedError();
    const statements = this.#statements;
    const timers = timerStatements(db);
    let scheduled = false;
    try {
      const result = await gateFor(db).transaction(db, (tx) =>
        work({
          markProcessed: async (consumer, messageId) => {
            tx.assertOpen();
            return statements.record.run(`process:${consumer}`, messageId, Date.now()).changes > 0;
          },
          load: async (manager, key) => {
            tx.assertOpen();
            const row = statements.get.get(manager, key);
            return row && processFromRow(row);
          },
          save: async (instance) => {
            tx.assertOpen();
            const params = {
              manager: instance.manager,
              key: instance.key,
              status: instance.status,
              state: JSON.stringify(instance.state),
              version: instance.version,
              created: instance.createdAt.getTime(),
              updated: instance.updatedAt.getTime(),
              completed: instance.completedAt?.getTime() ?? null,
            };
            const changes =
              instance.version === 1
                ? statements.insert.run(params).changes
                : statements.update.run(params).changes;
            if (changes === 0)
              throw new ProcessConflictError(instance.manager, instance.key, instance.version - 1);
          },
          schedule: async (timer) => {
            tx.assertOpen();
            timers.schedule(timerRow(timer, Date.now()));
            scheduled = true;
          },
          cancel: async (scope, key, name) => {
            tx.assertOpen();
            if (name === undefined) timers.cancelAll.run({ scope, key });
            else timers.cancel.run({ scope, key, name });
          },
          fire: async (id, owner, now) => {
            tx.assertOpen();
            return timers.fire.run({ id, owner, now: now.getTime() }).changes > 0;
          },
          emit: async (destination, messages) => {
            writeOutbox(tx, destination, messages);
          },
        }),
      );
      if (scheduled) announceTimer(db);
      return result;
    } catch (error) {
      throw toStoreError(error, addressOf(db.name));
    }
  }
}

function prepare(db: SqliteDatabase) {
  return {
    record: db.prepare(
      `INSERT INTO causeway_inbox (group_name, message_id, processed_at) VALUES (?, ?, ?)
       ON CONFLICT DO NOTHING`,
    ) as Statement<[string, string, number]>,
    get: db.prepare<[string, string], ProcessRow>(
      `SELECT ${COLUMNS} FROM causeway_process_instances WHERE manager = ? AND key = ?`,
    ),
    insert: db.prepare(
      `INSERT INTO causeway_process_instances (${COLUMNS})
       VALUES (@manager, @key, @status, @state, @version, @created, @updated, @completed)
       ON CONFLICT DO NOTHING`,
    ),
    update: db.prepare(
      `UPDATE causeway_process_instances
       SET status = @status, state = @state, version = @version, updated_at = @updated,
           completed_at = @completed
       WHERE manager = @manager AND key = @key AND version = @version - 1`,
    ),
  };
}
