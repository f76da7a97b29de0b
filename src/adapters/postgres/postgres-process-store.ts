import type { PoolClient } from 'pg';
import { ProcessConflictError } from '../../sagas/process-errors.js';
import { processFromRow, type ProcessRow } from '../sql/process-rows.js';
import type {
  ProcessInstance,
  ProcessStore,
  ProcessTransaction,
} from '../../sagas/process-store.js';
import { writeOutbox } from './postgres-outbox.js';
import { processSql, timerSql } from './postgres-process-sql.js';
import { openPostgresStore } from './postgres-store.js';
import type { SchemaIdentity } from './postgres-identity.js';
import { PostgresTimerStore, type PostgresTimerStoreOptions } from './postgres-timer-store.js';
import { PostgresTransaction } from './postgres-transaction.js';

/** The timer store's options: the process store's timers live in it. */
export type PostgresProcessStoreOptions = PostgresTimerStoreOptions;

/** Opens a process store, creating or checking the schema first. */
export async function createPostgresProcessStore(
  options: PostgresProcessStoreOptions = {},
): Promise<PostgresProcessStore> {
  const store = new PostgresProcessStore(options);
  await openPostgresStore(store.timers, options);
  return store;
}

/**
 * Process manager instances, timers, processed-message records (`causeway_inbox`, group
 * `process:<manager>`) and outbox rows in one PostgreSQL schema, so one transaction holds a
 * message's whole effect. Loading an instance takes a transaction-scoped advisory lock on
 * (manager, key): messages and timer firings for one instance apply one at a time, in every
 * process, even for a key that has no row yet. The outbox's NOTIFY rides in the transaction,
 * so relays wake when it commits.
 *
 * ```ts
 * const store = await createPostgresProcessStore({ connectionString: process.env.DATABASE_URL });
 * const runtime = new ProcessManagerRuntime({ store, managers: [fulfilment] });
 * const scheduler = new TimerScheduler({ store: store.timers, fire: runtime.fireTimer });
 * ```
 */
export class PostgresProcessStore implements ProcessStore {
  /** Owns the connection: its pool is the one every transaction of this store runs on. */
  readonly timers: PostgresTimerStore;
  readonly identity: SchemaIdentity;
  readonly #sql;
  readonly #timerSql;

  constructor(options: PostgresProcessStoreOptions = {}) {
    this.timers = new PostgresTimerStore(options);
    this.identity = this.timers.identity;
    this.#sql = processSql(this.identity);
    this.#timerSql = timerSql(this.identity);
  }

  /** Ends the pool if the store opened it. */
  close(): Promise<void> {
    return this.timers.close();
  }

  async get(manager: string, key: string): Promise<ProcessInstance | undefined> {
    const { rows } = await this.timers.runQuery<ProcessRow>('process_get', this.#sql.get, [
      manager,
      key,
    ]);
    return rows[0] && processFromRow(rows[0]);
  }

  async transaction<T>(work: (transaction: ProcessTransaction) => Promise<T>): Promise<T> {
    let scheduled = false;
    const result = await this.timers.runTransaction(async (client) => {
      const handle = new PostgresTransaction(client, this.identity.schema);
      try {
        return await work(this.#transaction(client, handle, () => (scheduled = true)));
      } finally {
        handle.end();
      }
    });
    if (scheduled) this.timers.announce();
    return result;
  }

  #transaction(
    client: PoolClient,
    handle: PostgresTransaction,
    onSchedule: () => void,
  ): ProcessTransaction {
    const sql = this.#sql;
    const timers = this.#timerSql;
    const prefix = this.identity.statementPrefix;
    const run = (name: string, text: string, values: unknown[]) => {
      if (!handle.open) throw new Error('process transaction used after it ended');
      return client.query({ name: `${prefix}${name}`, text, values });
    };
    return {
      markProcessed: async (consumer, messageId) =>
        ((await run('process_record', sql.record, [`process:${consumer}`, messageId])).rowCount ??
          0) > 0,
      load: async (manager, key) => {
        await run('process_lock', sql.lock, [JSON.stringify([manager, key])]);
        const { rows } = await run('process_get', sql.get, [manager, key]);
        const row = rows[0] as ProcessRow | undefined;
        return row && processFromRow(row);
      },
      save: async (instance) => {
        const values = [
          instance.manager,
          instance.key,
          instance.status,
          JSON.stringify(instance.state),
          instance.version,
          instance.createdAt,
          instance.updatedAt,
          instance.completedAt ?? null,
        ];
        const result =
          instance.version === 1
            ? await run('process_insert', sql.insert, values)
            : await run(
                'process_update',
                sql.update,
                values.toSpliced(5, 1) /* created_at stays */,
              );
        if ((result.rowCount ?? 0) === 0)
          throw new ProcessConflictError(instance.manager, instance.key, instance.version - 1);
      },
      schedule: async (timer) => {
        const { name, text, values } = this.timers.scheduleStatement(timer);
        await run(name, text, values);
        onSchedule();
      },
      cancel: async (scope, key, name) => {
        if (name === undefined) await run('timer_cancel_all', timers.cancelAll, [scope, key]);
        else await run('timer_cancel', timers.cancel, [scope, key, name]);
      },
      fire: async (id, owner, now) =>
        ((await run('timer_fire', timers.fire, [id, owner, now])).rowCount ?? 0) > 0,
      emit: async (destination, messages) => {
        await writeOutbox(handle, this.identity, messages, destination, true);
      },
    };
  }
}
