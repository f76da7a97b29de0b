import type { Statement } from 'better-sqlite3';
import { systemClock, type Clock } from '../../core/clock.js';
import { SagaLeaseLostError } from '../../sagas/errors.js';
import {
  ACTIVE_SAGA_STATUSES,
  type LeaseRenewal,
  type SagaInstance,
  purgeStatuses,
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
import { ensureSchema, type SqliteDatabase } from './sqlite-schema.js';
import { runOnFile } from './sqlite-transaction.js';

export interface SqliteSagaStoreOptions {
  /**
   * The clock leases are timed by. Default: the system clock. Every runtime sharing a SQLite
   * file runs on this machine, so they share this clock; tests pass a `ManualClock`.
   */
  clock?: Clock;
}

/** A row as SQLite returns it: times are epoch milliseconds. */
type RawRow = Omit<
  SagaRow,
  'lease_expires_at' | 'abort_requested_at' | 'created_at' | 'updated_at' | 'ended_at'
> & {
  lease_expires_at: number | null;
  abort_requested_at: number | null;
  created_at: number;
  updated_at: number;
  ended_at: number | null;
};

const COLUMNS = `id, name, status, version, current_step, attempt, data, state, history,
  lease_owner, lease_expires_at, abort_requested_at, created_at, updated_at, ended_at`;

/**
 * Saga instances in the SQLite file, one row each (`causeway_sagas`). Every write a runtime
 * makes is one `UPDATE … WHERE id = ? AND version = ? AND lease_owner = ? AND
 * lease_expires_at > now`, so a runtime whose lease ran out (or was taken over) writes
 * nothing. SQLite has one writer at a time across processes, so a claim (one UPDATE over a
 * subquery) never hands an instance to two runtimes.
 *
 * ```ts
 * const db = openSqliteDatabase('./app.db');
 * const runtime = new SagaRuntime({ store: new SqliteSagaStore(db), sagas: [checkout] });
 * ```
 */
export class SqliteSagaStore implements SagaStore {
  readonly #db: SqliteDatabase;
  readonly #clock: Clock;
  readonly #statements;
  readonly #lists = new Map<string, Statement<unknown[], RawRow>>();

  constructor(database: SqliteDatabase, options: SqliteSagaStoreOptions = {}) {
    this.#db = database;
    this.#clock = options.clock ?? systemClock;
    ensureSchema(database);
    this.#statements = prepare(database);
  }

  async create(
    instance: Omit<SagaInstance, 'version' | 'leaseOwner' | 'leaseExpiresAt'>,
    owner: string,
    ttlMs: number,
  ): Promise<SagaInstance | undefined> {
    // Serialized before the write: data that cannot be stored leaves no row behind.
    const content = toColumns(sagaContent(instance));
    const row = await this.#run(() =>
      this.#statements.insert.get({
        ...content,
        abort_requested_at: instance.abortRequestedAt?.getTime() ?? null,
        owner,
        expires: this.#expiry(ttlMs),
      }),
    );
    return row && toInstance(row);
  }

  async get(id: string): Promise<SagaInstance | undefined> {
    const row = await this.#run(() => this.#statements.get.get(id), 'read');
    return row && toInstance(row);
  }

  async list(query: SagaQuery = {}): Promise<SagaInstance[]> {
    const statuses = statusList(query.status);
    if (statuses?.length === 0) return [];
    const where: string[] = [];
    const values: unknown[] = [];
    if (statuses) {
      where.push(`status IN (${statuses.map(() => '?').join(', ')})`);
      values.push(...statuses);
    }
    if (query.name !== undefined) {
      where.push('name = ?');
      values.push(query.name);
    }
    if (query.after !== undefined) {
      where.push('id > ?');
      values.push(query.after);
    }
    const sql = `SELECT ${COLUMNS} FROM causeway_sagas
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    values.push(query.limit ?? 100);
    const rows = await this.#run(() => this.#list(sql).all(...values), 'read');
    return rows.map(toInstance);
  }

  async purge(query: SagaPurgeQuery): Promise<number> {
    const statuses = JSON.stringify(purgeStatuses(query));
    const params = { statuses, olderThan: query.olderThan.getTime(), name: query.name ?? null };
    return this.#run(() => this.#statements.purge.run(params).changes);
  }

  async countByStatus(): Promise<SagaStatusCount[]> {
    return this.#run(() => this.#statements.countByStatus.all(), 'read');
  }

  async save(instance: SagaInstance, owner: string, ttlMs: number): Promise<SagaInstance> {
    const content = toColumns(sagaContent(instance));
    const row = await this.#run(() =>
      this.#statements.save.get({
        ...content,
        expected: instance.version,
        owner,
        now: this.#now(),
        expires: this.#expiry(ttlMs),
      }),
    );
    if (!row) throw new SagaLeaseLostError(instance.id, owner);
    return toInstance(row);
  }

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<SagaInstance | undefined> {
    const row = await this.#run(() =>
      this.#statements.acquire.get({ id, owner, now: this.#now(), expires: this.#expiry(ttlMs) }),
    );
    return row && toInstance(row);
  }

  async renewLease(id: string, owner: string, ttlMs: number): Promise<LeaseRenewal | undefined> {
    const row = await this.#run(() =>
      this.#statements.renew.get({ id, owner, now: this.#now(), expires: this.#expiry(ttlMs) }),
    );
    return row && { abortRequested: row.abort_requested_at !== null };
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.#run(() => this.#statements.release.run(id, owner));
  }

  async claim(
    names: readonly string[],
    owner: string,
    ttlMs: number,
    limit: number,
  ): Promise<SagaInstance[]> {
    if (names.length === 0 || limit <= 0) return [];
    const rows = await this.#run(() =>
      this.#statements.claim.all({
        names: JSON.stringify(names),
        owner,
        now: this.#now(),
        expires: this.#expiry(ttlMs),
        limit,
      }),
    );
    return oldestFirst(rows.map(toInstance));
  }

  async requestAbort(id: string): Promise<SagaInstance | undefined> {
    const row = await this.#run(() => this.#statements.abort.get({ id, now: this.#now() }));
    return row && toInstance(row);
  }

  #list(sql: string): Statement<unknown[], RawRow> {
    let statement = this.#lists.get(sql);
    if (!statement) {
      statement = this.#db.prepare<unknown[], RawRow>(sql);
      this.#lists.set(sql, statement);
    }
    return statement;
  }

  #now(): number {
    return this.#clock.now().getTime();
  }

  #expiry(ttlMs: number): number {
    return this.#now() + ttlMs;
  }

  #run<T>(work: () => T, access: 'read' | 'write' = 'write'): Promise<T> {
    return runOnFile(this.#db, access, work);
  }
}

type Content = ReturnType<typeof toColumns>;
type Lease = { id: string; owner: string; now: number; expires: number };

function prepare(db: SqliteDatabase) {
  // The id, name and creation time never change after `create`.
  const content = `status = @status, current_step = @current_step, attempt = @attempt,
    data = @data, state = @state, history = @history, updated_at = @updated_at,
    ended_at = @ended_at`;
  const holds = `lease_owner = @owner AND lease_expires_at > @now`;
  return {
    insert: db.prepare<
      [Content & { abort_requested_at: number | null; owner: string; expires: number }],
      RawRow
    >(
      `INSERT INTO causeway_sagas (id, name, status, version, current_step, attempt, data, state,
         history, lease_owner, lease_expires_at, abort_requested_at, created_at, updated_at, ended_at)
       VALUES (@id, @name, @status, 1, @current_step, @attempt, @data, @state, @history, @owner,
         @expires, @abort_requested_at, @created_at, @updated_at, @ended_at)
       ON CONFLICT (id) DO NOTHING
       RETURNING ${COLUMNS}`,
    ),
    get: db.prepare<[string], RawRow>(`SELECT ${COLUMNS} FROM causeway_sagas WHERE id = ?`),
    purge: db.prepare<[{ statuses: string; olderThan: number; name: string | null }]>(
      `DELETE FROM causeway_sagas
       WHERE status IN (SELECT value FROM json_each(@statuses))
         AND coalesce(ended_at, updated_at) < @olderThan
         AND (@name IS NULL OR name = @name)`,
    ),
    // SQLite's default collation is bytewise (BINARY), like the port's order.
    countByStatus: db.prepare<[], SagaStatusCount>(
      `SELECT name, status, count(*) AS count FROM causeway_sagas
       GROUP BY name, status ORDER BY name, status`,
    ),
    save: db.prepare<
      [Content & { expected: number; owner: string; now: number; expires: number }],
      RawRow
    >(
      `UPDATE causeway_sagas
       SET ${content}, version = version + 1, lease_expires_at = @expires
       WHERE id = @id AND version = @expected AND ${holds}
       RETURNING ${COLUMNS}`,
    ),
    acquire: db.prepare<[Lease], RawRow>(
      `UPDATE causeway_sagas SET lease_owner = @owner, lease_expires_at = @expires
       WHERE id = @id
         AND (lease_owner IS NULL OR lease_owner = @owner OR lease_expires_at IS NULL
              OR lease_expires_at <= @now)
       RETURNING ${COLUMNS}`,
    ),
    renew: db.prepare<[Lease], { abort_requested_at: number | null }>(
      `UPDATE causeway_sagas SET lease_expires_at = @expires
       WHERE id = @id AND ${holds}
       RETURNING abort_requested_at`,
    ),
    release: db.prepare<[string, string]>(
      `UPDATE causeway_sagas SET lease_owner = NULL, lease_expires_at = NULL
       WHERE id = ? AND lease_owner = ?`,
    ),
    // One statement under SQLite's write lock: two claimers (in any process) never both see
    // an instance as free. The subquery walks `causeway_sagas_resumable`.
    claim: db.prepare<
      [{ names: string; owner: string; now: number; expires: number; limit: number }],
      RawRow
    >(
      `UPDATE causeway_sagas SET lease_owner = @owner, lease_expires_at = @expires
       WHERE id IN (
         SELECT id FROM causeway_sagas
         WHERE name IN (SELECT value FROM json_each(@names))
           AND status IN (${ACTIVE_SAGA_STATUSES.map((s) => `'${s}'`).join(', ')})
           AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= @now)
         ORDER BY created_at, id LIMIT @limit
       )
       RETURNING ${COLUMNS}`,
    ),
    abort: db.prepare<[{ id: string; now: number }], RawRow>(
      `UPDATE causeway_sagas SET abort_requested_at = coalesce(abort_requested_at, @now)
       WHERE id = @id
       RETURNING ${COLUMNS}`,
    ),
  };
}

/** The shared layout with SQLite's time type (epoch milliseconds). */
function toColumns(content: ReturnType<typeof sagaContent>) {
  return {
    ...content,
    created_at: content.created_at.getTime(),
    updated_at: content.updated_at.getTime(),
    ended_at: content.ended_at?.getTime() ?? null,
  };
}

function toInstance(row: RawRow): SagaInstance {
  const date = (ms: number | null) => (ms === null ? null : new Date(ms));
  return sagaFromRow({
    ...row,
    lease_expires_at: date(row.lease_expires_at),
    abort_requested_at: date(row.abort_requested_at),
    created_at: new Date(row.created_at),
    updated_at: new Date(row.updated_at),
    ended_at: date(row.ended_at),
  });
}
