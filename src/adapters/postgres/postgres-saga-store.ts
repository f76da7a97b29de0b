import type { Clock } from '../../core/clock.js';
import { SagaLeaseLostError } from '../../sagas/errors.js';
import {
  purgeStatuses,
  type LeaseRenewal,
  type SagaInstance,
  type SagaPurgeQuery,
  type SagaQuery,
  type SagaStatusCount,
  type SagaStore,
} from '../../sagas/saga-store.js';
import {
  oldestFirst,
  sagaContent,
  sagaFromRow,
  statusList,
  type SagaRow,
} from '../sql/saga-rows.js';
import { sagaStatements } from './postgres-saga-sql.js';
import { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';

export interface PostgresSagaStoreOptions extends PostgresStoreOptions {
  /**
   * Times leases by this clock instead of the database's. Leave it out in production: the
   * database clock is the one every runtime, on every host, agrees on. Tests pass a
   * `ManualClock` to expire leases without waiting.
   */
  clock?: Clock;
}

/** Opens a saga store, creating or checking the schema first. */
export async function createPostgresSagaStore(
  options: PostgresSagaStoreOptions = {},
): Promise<PostgresSagaStore> {
  return openPostgresStore(new PostgresSagaStore(options), options);
}

/**
 * Saga instances in PostgreSQL, one row each (`causeway_sagas`). Every write a runtime makes
 * is one `UPDATE … WHERE id = $1 AND version = $2 AND lease_owner = $3 AND lease_expires_at
 * > now`: a runtime whose lease ran out, or was taken over, writes nothing. Leases are timed
 * by the database clock, so runtimes on hosts whose clocks disagree still agree on who holds
 * what. Claims lock candidates `FOR UPDATE SKIP LOCKED`, so runtimes claiming at once never
 * take the same instance.
 *
 * ```ts
 * const store = await createPostgresSagaStore({ connectionString: process.env.DATABASE_URL });
 * const runtime = new SagaRuntime({ store, sagas: [checkout] });
 * ```
 */
export class PostgresSagaStore extends PostgresStore implements SagaStore {
  readonly #sql = sagaStatements(this.identity);
  readonly #clock: Clock | undefined;

  constructor(options: Omit<PostgresSagaStoreOptions, 'migrate'> = {}) {
    super(options);
    this.#clock = options.clock;
  }

  async create(
    instance: Omit<SagaInstance, 'version' | 'leaseOwner' | 'leaseExpiresAt'>,
    owner: string,
    ttlMs: number,
  ): Promise<SagaInstance | undefined> {
    // Serialized before the write: data that cannot be stored leaves no row behind.
    const c = sagaContent(instance);
    const { rows } = await this.query<SagaRow>('saga_insert', this.#sql.insert, [
      c.id,
      c.name,
      c.status,
      c.current_step,
      c.attempt,
      c.data,
      c.state,
      c.history,
      c.created_at,
      c.updated_at,
      c.ended_at,
      instance.abortRequestedAt ?? null,
      owner,
      this.#now(),
      ttlMs,
    ]);
    return rows[0] && sagaFromRow(rows[0]);
  }

  async get(id: string): Promise<SagaInstance | undefined> {
    const { rows } = await this.query<SagaRow>('saga_get', this.#sql.get, [id]);
    return rows[0] && sagaFromRow(rows[0]);
  }

  async list(query: SagaQuery = {}): Promise<SagaInstance[]> {
    const statuses = statusList(query.status);
    if (statuses?.length === 0) return [];
    const filters = {
      status: statuses !== undefined,
      name: query.name !== undefined,
      after: query.after !== undefined,
    };
    const values: unknown[] = [query.limit ?? 100];
    if (statuses) values.push(statuses);
    if (query.name !== undefined) values.push(query.name);
    if (query.after !== undefined) values.push(query.after);
    const shape = `${+filters.status}${+filters.name}${+filters.after}`;
    const { rows } = await this.query<SagaRow>(
      `saga_list_${shape}`,
      this.#sql.list(filters),
      values,
    );
    return rows.map(sagaFromRow);
  }

  async purge(query: SagaPurgeQuery): Promise<number> {
    const result = await this.query('saga_purge', this.#sql.purge, [
      purgeStatuses(query),
      query.olderThan,
      query.name ?? null,
    ]);
    return result.rowCount ?? 0;
  }

  async countByStatus(): Promise<SagaStatusCount[]> {
    const { rows } = await this.query<SagaStatusCount>(
      'saga_count_by_status',
      this.#sql.countByStatus,
      [],
    );
    return rows;
  }

  async save(instance: SagaInstance, owner: string, ttlMs: number): Promise<SagaInstance> {
    const c = sagaContent(instance);
    const { rows } = await this.query<SagaRow>('saga_save', this.#sql.save, [
      c.id,
      c.status,
      c.current_step,
      c.attempt,
      c.data,
      c.state,
      c.history,
      c.updated_at,
      c.ended_at,
      instance.version,
      owner,
      this.#now(),
      ttlMs,
    ]);
    if (!rows[0]) throw new SagaLeaseLostError(instance.id, owner);
    return sagaFromRow(rows[0]);
  }

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<SagaInstance | undefined> {
    const { rows } = await this.query<SagaRow>('saga_acquire', this.#sql.acquire, [
      id,
      owner,
      this.#now(),
      ttlMs,
    ]);
    return rows[0] && sagaFromRow(rows[0]);
  }

  async renewLease(id: string, owner: string, ttlMs: number): Promise<LeaseRenewal | undefined> {
    const { rows } = await this.query<{ abort_requested: boolean }>('saga_renew', this.#sql.renew, [
      id,
      owner,
      this.#now(),
      ttlMs,
    ]);
    return rows[0] && { abortRequested: rows[0].abort_requested };
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.query('saga_release', this.#sql.release, [id, owner]);
  }

  async claim(
    names: readonly string[],
    owner: string,
    ttlMs: number,
    limit: number,
  ): Promise<SagaInstance[]> {
    if (names.length === 0 || limit <= 0) return [];
    const { rows } = await this.query<SagaRow>('saga_claim', this.#sql.claim, [
      names,
      owner,
      this.#now(),
      ttlMs,
      limit,
    ]);
    return oldestFirst(rows.map(sagaFromRow));
  }

  async requestAbort(id: string): Promise<SagaInstance | undefined> {
    const { rows } = await this.query<SagaRow>('saga_abort', this.#sql.abort, [id, this.#now()]);
    return rows[0] && sagaFromRow(rows[0]);
  }

  /** The injected clock's time, or NULL: the statement then reads the database clock. */
  #now(): Date | null {
    return this.#clock?.now() ?? null;
  }
}
