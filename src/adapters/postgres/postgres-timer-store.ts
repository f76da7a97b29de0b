import { randomUUID } from 'node:crypto';
import type { PoolClient, QueryResultRow } from 'pg';
import { serializeJson } from '../../core/serializer.js';
import {
  compareTimers,
  type TimerRecord,
  type TimerSchedule,
  type TimerStore,
} from '../../sagas/timer-store.js';
import { timerFromRow, type TimerRow } from '../sql/process-rows.js';
import { NotificationListener } from './postgres-listener.js';
import { timerChannel, timerSql } from './postgres-process-sql.js';
import { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';

export interface PostgresTimerStoreOptions extends PostgresStoreOptions {
  /**
   * Whether a schedule NOTIFYs (in its transaction) so schedulers in other processes wake
   * for a timer due before their next look. Default true. PostgreSQL commits notifying
   * transactions one at a time; with very many schedules per second turn it off and let
   * schedulers poll (`pollIntervalMs`).
   */
  notifyOnSchedule?: boolean;
}

/** Opens a timer store, creating or checking the schema first. */
export async function createPostgresTimerStore(
  options: PostgresTimerStoreOptions = {},
): Promise<PostgresTimerStore> {
  return openPostgresStore(new PostgresTimerStore(options), options);
}

/**
 * Durable timers in PostgreSQL (`causeway_timers`). Schedulers claim due timers with one
 * `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`: schedulers claiming at once never take
 * the same timer, and none waits on a row another is claiming or firing. Marking fired is
 * conditional on the lease and on `fired_at IS NULL`. Times are the scheduler's clock.
 *
 * A schedule NOTIFYs its due time on commit (`notifyOnSchedule`), and `onSchedule` LISTENs:
 * a scheduler in any process that sleeps past that time wakes for it, so a timer due in
 * 200 ms fires in about 200 ms whatever the poll interval. Polling stays as the fallback
 * (a dropped LISTEN connection, `notifyOnSchedule: false`).
 *
 * ```ts
 * const timers = await createPostgresTimerStore({ connectionString: process.env.DATABASE_URL });
 * ```
 */
export class PostgresTimerStore extends PostgresStore implements TimerStore {
  readonly #sql = timerSql(this.identity);
  readonly #listeners = new Set<(dueAt?: Date) => void>();
  readonly #notify: boolean;
  readonly #channel = timerChannel(this.identity);
  // Payloads are due times; none is ever this id, so our own schedules come back too (the
  // scheduler ignores a due time it is already waking up for).
  readonly #remote = new NotificationListener(
    this.connection.clientConfig,
    this.#channel,
    randomUUID(),
  );

  constructor(options: Omit<PostgresTimerStoreOptions, 'migrate'> = {}) {
    super(options);
    this.#notify = options.notifyOnSchedule ?? true;
  }

  async schedule(timer: TimerSchedule): Promise<void> {
    const { name, text, values } = this.scheduleStatement(timer);
    await this.query(name, text, values);
    this.announce();
  }

  /** @internal The schedule statement (with its NOTIFY unless turned off), for transactions too. */
  scheduleStatement(timer: TimerSchedule): { name: string; text: string; values: unknown[] } {
    const values = timerParams(timer, new Date());
    return this.#notify
      ? {
          name: 'timer_schedule_notify',
          text: this.#sql.scheduleAndNotify,
          values: [...values, this.#channel],
        }
      : { name: 'timer_schedule', text: this.#sql.schedule, values };
  }

  async cancel(scope: string, key: string, name: string): Promise<boolean> {
    const result = await this.query('timer_cancel', this.#sql.cancel, [scope, key, name]);
    return (result.rowCount ?? 0) > 0;
  }

  async get(id: string): Promise<TimerRecord | undefined> {
    const { rows } = await this.query<TimerRow>('timer_get', this.#sql.get, [id]);
    return rows[0] && timerFromRow(rows[0]);
  }

  async pending(scope: string, key: string): Promise<TimerRecord[]> {
    const { rows } = await this.query<TimerRow>('timer_pending', this.#sql.pending, [scope, key]);
    return rows.map(timerFromRow);
  }

  async claimDue(
    owner: string,
    now: Date,
    limit: number,
    leaseMs: number,
    scopes?: readonly string[],
  ): Promise<TimerRecord[]> {
    const { rows } = await this.query<TimerRow>('timer_claim', this.#sql.claim, [
      owner,
      now,
      new Date(now.getTime() + leaseMs),
      limit,
      scopes ?? null,
    ]);
    return rows.map(timerFromRow).sort(compareTimers);
  }

  async markFired(id: string, owner: string, now: Date): Promise<boolean> {
    const result = await this.query('timer_fire', this.#sql.fire, [id, owner, now]);
    return (result.rowCount ?? 0) > 0;
  }

  async release(id: string, owner: string, retryAt: Date): Promise<void> {
    await this.query('timer_release', this.#sql.release, [id, owner, retryAt]);
  }

  async nextDueAt(scopes?: readonly string[]): Promise<Date | undefined> {
    const { rows } = await this.query<{ due: Date | null }>('timer_next_due', this.#sql.nextDue, [
      scopes ?? null,
    ]);
    return rows[0]?.due ?? undefined;
  }

  async cleanup(olderThan: Date): Promise<number> {
    const result = await this.query('timer_cleanup', this.#sql.cleanup, [olderThan]);
    return result.rowCount ?? 0;
  }

  /**
   * Wakes `listener` after a schedule commits: through this store (or its process store) at
   * once, and from any process by LISTEN, with the timer's due time. Also called (without a
   * time) when the LISTEN connection comes back, since notifications may have been missed.
   */
  onSchedule(listener: (dueAt?: Date) => void): () => void {
    this.#listeners.add(listener);
    const unlisten = this.#remote.add((payload) => listener(parseDue(payload)));
    return () => {
      this.#listeners.delete(listener);
      unlisten();
    };
  }

  /** Resolves once the LISTEN connection is up (after the first `onSchedule`); for tests. */
  async listening(): Promise<void> {
    await this.#remote.ready();
  }

  protected override async onClose(): Promise<void> {
    await this.#remote.close();
  }

  /** @internal One transaction on this store's pool, for the process store that wraps it. */
  runTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.transaction(work);
  }

  /** @internal The statements' query, for the process store's reads outside a transaction. */
  runQuery<R extends QueryResultRow>(name: string, text: string, values: unknown[]) {
    return this.query<R>(name, text, values);
  }

  /** @internal Wakes this store's schedulers (after a commit that scheduled). */
  announce(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** The schedule statement's parameters; the payload is serialized before any write. @internal */
export function timerParams(timer: TimerSchedule, now: Date): unknown[] {
  return [
    timer.id,
    timer.scope,
    timer.key,
    timer.name,
    timer.dueAt,
    serializeJson(timer.payload ?? null, `payload of timer ${timer.name}`),
    now,
  ];
}

function parseDue(payload: string | undefined): Date | undefined {
  const ms = payload === undefined ? Number.NaN : Number(payload);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}
