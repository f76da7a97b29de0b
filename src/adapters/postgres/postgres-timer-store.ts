import type { PoolClient, QueryResultRow } from 'pg';
import { serializeJson } from '../../core/serializer.js';
import {
  compareTimers,
  type TimerRecord,
  type TimerSchedule,
  type TimerStore,
} from '../../sagas/timer-store.js';
import { timerFromRow, type TimerRow } from '../sql/process-rows.js';
import { timerSql } from './postgres-process-sql.js';
import { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';

export type PostgresTimerStoreOptions = PostgresStoreOptions;

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
 * ```ts
 * const timers = await createPostgresTimerStore({ connectionString: process.env.DATABASE_URL });
 * ```
 */
export class PostgresTimerStore extends PostgresStore implements TimerStore {
  readonly #sql = timerSql(this.identity);
  readonly #listeners = new Set<() => void>();

  async schedule(timer: TimerSchedule): Promise<void> {
    await this.query('timer_schedule', this.#sql.schedule, timerParams(timer, new Date()));
    this.announce();
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
   * Wakes `listener` after a schedule through this store (or its process store) commits.
   * Schedules from other processes are found by the scheduler's poll.
   */
  onSchedule(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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
