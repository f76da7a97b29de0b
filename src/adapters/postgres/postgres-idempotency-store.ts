import { randomUUID } from 'node:crypto';
import { newId } from '../../core/ids.js';
import type { ClaimResult, IdempotencyStore } from '../../messaging/idempotency-store.js';
import { NotificationListener } from './postgres-listener.js';
import { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';

export type PostgresIdempotencyStoreOptions = PostgresStoreOptions;

/** Opens an idempotency store, creating or checking the schema first. */
export async function createPostgresIdempotencyStore(
  options: PostgresIdempotencyStoreOptions = {},
): Promise<PostgresIdempotencyStore> {
  return openPostgresStore(new PostgresIdempotencyStore(options), options);
}

interface StateRow {
  status: 'claimed' | 'completed';
  result: string | null;
  lease_expires_at: Date;
  expired: boolean;
}

/**
 * Idempotency keys in PostgreSQL, with the memory store's semantics. A claim is one upsert
 * that takes the key only when it is free (absent, its lease ran out, or its result expired),
 * so two callers on any hosts never both get it; leases and expiry use the database clock.
 * Completions and releases NOTIFY, so waiters in every process wake at once (their bounded
 * wait is the fallback for a lost notification).
 */
export class PostgresIdempotencyStore extends PostgresStore implements IdempotencyStore {
  readonly #table = `${this.identity.quoted}.causeway_idempotency`;
  readonly #channel = `${this.identity.statementPrefix}idempotency`;
  readonly #waiters = new Set<() => void>();
  readonly #listener = new NotificationListener(
    this.connection.clientConfig,
    this.#channel,
    // Our own completions wake our waiters directly; no payload is skipped.
    randomUUID(),
  );
  #listening = false;

  async claim(key: string, leaseMs: number): Promise<ClaimResult> {
    const table = this.#table;
    for (;;) {
      const token = newId();
      const taken = await this.query(
        'idem_take',
        `INSERT INTO ${table} AS t (key, status, token, lease_expires_at)
         VALUES ($1, 'claimed', $2, clock_timestamp() + $3::float8 * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET status = 'claimed', token = excluded.token,
           lease_expires_at = excluded.lease_expires_at, result = NULL, expires_at = NULL
         WHERE (t.status = 'claimed' AND t.lease_expires_at <= clock_timestamp())
            OR (t.status = 'completed' AND t.expires_at <= clock_timestamp())
         RETURNING token`,
        [key, token, leaseMs],
      );
      if (taken.rowCount) return { status: 'claimed', token };
      const { rows } = await this.query<StateRow>(
        'idem_state',
        `SELECT status, result, lease_expires_at,
                coalesce(CASE status WHEN 'claimed' THEN lease_expires_at ELSE expires_at END
                         <= clock_timestamp(), false) AS expired
         FROM ${table} WHERE key = $1`,
        [key],
      );
      const row = rows[0];
      // Released or expired between the two statements: try to take it again.
      if (!row || row.expired) continue;
      return row.status === 'completed'
        ? { status: 'completed', result: row.result ?? 'null' }
        : { status: 'in_progress', leaseExpiresAt: row.lease_expires_at };
    }
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    const result = await this.query(
      'idem_renew',
      `UPDATE ${this.#table}
       SET lease_expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond'
       WHERE key = $1 AND token = $2 AND status = 'claimed'`,
      [key, token, leaseMs],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async complete(
    key: string,
    token: string,
    result: string,
    ttlMs: number | undefined,
  ): Promise<boolean> {
    const done = await this.query(
      'idem_complete',
      `WITH done AS (
         UPDATE ${this.#table}
         SET status = 'completed', result = $3, lease_expires_at = clock_timestamp(),
             expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond'
         WHERE key = $1 AND token = $2 AND status = 'claimed' RETURNING 1
       )
       SELECT pg_notify($5, '') FROM done`,
      [key, token, result, ttlMs ?? null, this.#channel],
    );
    if (done.rowCount) this.#wake();
    return (done.rowCount ?? 0) > 0;
  }

  async release(key: string, token: string): Promise<void> {
    const released = await this.query(
      'idem_release',
      `WITH gone AS (
         DELETE FROM ${this.#table} WHERE key = $1 AND token = $2 AND status = 'claimed'
         RETURNING 1
       )
       SELECT pg_notify($3, '') FROM gone`,
      [key, token, this.#channel],
    );
    if (released.rowCount) this.#wake();
  }

  /**
   * Deletes keys nobody needs any more: results past their ttl and claims whose lease ran
   * out (their holder can no longer complete them). Run it on a schedule; returns how many.
   */
  async deleteExpired(): Promise<number> {
    const result = await this.query(
      'idem_expired',
      `DELETE FROM ${this.#table}
       WHERE (status = 'completed' AND expires_at <= clock_timestamp())
          OR (status = 'claimed' AND lease_expires_at <= clock_timestamp())`,
      [],
    );
    return result.rowCount ?? 0;
  }

  /**
   * Waits for the next completion or release of any key (a NOTIFY does not say which), or
   * `maxWaitMs`. The caller claims again either way, so a wake for another key costs one query.
   * The waiter is registered before the key is looked at once more, so a change that landed
   * between the caller's claim and this call is not waited out.
   */
  async waitForChange(key: string, maxWaitMs: number): Promise<void> {
    if (!this.#listening) {
      this.#listening = true;
      this.#listener.add(() => this.#wake());
    }
    let done!: () => void;
    const changed = new Promise<void>((resolve) => {
      done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      this.#waiters.add(done);
    });
    const { rows } = await this.query<{ held: boolean }>(
      'idem_held',
      `SELECT status = 'claimed' AND lease_expires_at > clock_timestamp() AS held
       FROM ${this.#table} WHERE key = $1`,
      [key],
    ).catch(() => ({ rows: [{ held: true }] }));
    if (!rows[0]?.held) done();
    await changed;
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  protected override async onClose(): Promise<void> {
    this.#wake();
    await this.#listener.close();
  }
}
