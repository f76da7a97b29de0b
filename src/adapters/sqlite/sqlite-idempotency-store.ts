import type { Statement } from 'better-sqlite3';
import { newId } from '../../core/ids.js';
import type { ClaimResult, IdempotencyStore } from '../../messaging/idempotency-store.js';
import { ensureSchema, type SqliteDatabase } from './sqlite-schema.js';
import { gateFor, runOnFile, type SqliteFileGate } from './sqlite-transaction.js';

interface Row {
  status: 'claimed' | 'completed';
  token: string;
  leaseExpiresAt: number;
  result: string | null;
  expiresAt: number | null;
}

export interface SqliteIdempotencyStoreOptions {
  /** How often a waiter looks for a change made by another process. Default 100 ms. */
  pollIntervalMs?: number;
}

/** Waiters per file: a completion through any connection of this process wakes them at once. */
const waitersByFile = new WeakMap<SqliteFileGate, Map<string, Set<() => void>>>();

/**
 * Idempotency keys in the SQLite file, with the memory store's semantics: a claim is a lease
 * with a fencing token, taken inside `BEGIN IMMEDIATE` so two claimers (in any process) never
 * both get the key; a result is recorded only by the token that holds the claim; completed
 * keys expire after their ttl. Waiters in this process are woken directly, waiters in other
 * processes notice by polling.
 */
export class SqliteIdempotencyStore implements IdempotencyStore {
  readonly #db: SqliteDatabase;
  readonly #pollMs: number;
  readonly #waiters: Map<string, Set<() => void>>;
  readonly #statements;

  constructor(database: SqliteDatabase, options: SqliteIdempotencyStoreOptions = {}) {
    this.#db = database;
    this.#pollMs = options.pollIntervalMs ?? 100;
    const gate = gateFor(database);
    let waiters = waitersByFile.get(gate);
    if (!waiters) waitersByFile.set(gate, (waiters = new Map()));
    this.#waiters = waiters;
    ensureSchema(database);
    this.#statements = prepare(database);
  }

  async claim(key: string, leaseMs: number): Promise<ClaimResult> {
    return this.#run(() => this.#statements.claim.immediate(key, leaseMs));
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    return this.#run(
      () => this.#statements.renew.run(Date.now() + leaseMs, key, token).changes > 0,
    );
  }

  async complete(
    key: string,
    token: string,
    result: string,
    ttlMs: number | undefined,
  ): Promise<boolean> {
    const now = Date.now();
    const done = await this.#run(
      () =>
        this.#statements.complete.run(
          result,
          now,
          ttlMs === undefined ? null : now + ttlMs,
          key,
          token,
        ).changes > 0,
    );
    if (done) this.#wake(key);
    return done;
  }

  async release(key: string, token: string): Promise<void> {
    const released = await this.#run(() => this.#statements.release.run(key, token).changes > 0);
    if (released) this.#wake(key);
  }

  /**
   * Deletes keys nobody needs any more: results past their ttl and claims whose lease ran
   * out (their holder can no longer complete them). Run it on a schedule; returns how many.
   */
  async deleteExpired(): Promise<number> {
    return this.#run(() => this.#statements.expired.run({ now: Date.now() }).changes);
  }

  async waitForChange(key: string, maxWaitMs: number): Promise<void> {
    let done!: () => void;
    const waiters = this.#waiters.get(key) ?? new Set();
    this.#waiters.set(key, waiters);
    let poll: NodeJS.Timeout | undefined;
    let finished = false;
    const changed = new Promise<void>((resolve) => {
      done = () => {
        finished = true;
        clearTimeout(deadline);
        clearTimeout(poll);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(key) === waiters) this.#waiters.delete(key);
        resolve();
      };
      const deadline = setTimeout(done, maxWaitMs);
      waiters.add(done);
    });
    // Registered first, then looked at: a change between the caller's claim and now counts.
    const initial = await this.#state(key).catch(() => undefined);
    if (initial === undefined) done();
    else {
      const check = () => {
        if (finished) return;
        poll = setTimeout(() => {
          this.#state(key).then(
            (state) => (state === initial ? check() : done()),
            () => done(),
          );
        }, this.#pollMs);
      };
      check();
    }
    await changed;
  }

  /**
   * What a waiter compares: status and token change on every completion, release and claim.
   * `undefined` when the key is no longer held by a live claim (nothing to wait for).
   */
  async #state(key: string): Promise<string | undefined> {
    const row = await this.#run(() => this.#statements.get.get(key), 'read');
    if (row?.status !== 'claimed' || row.leaseExpiresAt <= Date.now()) return undefined;
    return row.token;
  }

  #wake(key: string): void {
    for (const waiter of [...(this.#waiters.get(key) ?? [])]) waiter();
  }

  #run<T>(work: () => T, access: 'read' | 'write' = 'write'): Promise<T> {
    return runOnFile(this.#db, access, work);
  }
}

function prepare(db: SqliteDatabase) {
  const get: Statement<[string], Row> = db.prepare(
    `SELECT status, token, lease_expires_at AS leaseExpiresAt, result, expires_at AS expiresAt
     FROM causeway_idempotency WHERE key = ?`,
  );
  const take = db.prepare<[string, string, number]>(
    `INSERT INTO causeway_idempotency (key, status, token, lease_expires_at)
     VALUES (?, 'claimed', ?, ?)
     ON CONFLICT (key) DO UPDATE SET status = 'claimed', token = excluded.token,
       lease_expires_at = excluded.lease_expires_at, result = NULL, expires_at = NULL`,
  );
  // Read and take in one write transaction: nobody can claim between the look and the take.
  const claim = db.transaction((key: string, leaseMs: number): ClaimResult => {
    const now = Date.now();
    const row = get.get(key);
    if (row?.status === 'completed' && (row.expiresAt === null || row.expiresAt > now))
      return { status: 'completed', result: row.result ?? 'null' };
    if (row?.status === 'claimed' && row.leaseExpiresAt > now)
      return { status: 'in_progress', leaseExpiresAt: new Date(row.leaseExpiresAt) };
    const token = newId();
    take.run(key, token, now + leaseMs);
    return { status: 'claimed', token };
  });
  const held = `key = ? AND status = 'claimed' AND token = ?`;
  return {
    get,
    claim,
    renew: db.prepare<[number, string, string]>(
      `UPDATE causeway_idempotency SET lease_expires_at = ? WHERE ${held}`,
    ),
    complete: db.prepare<[string, number, number | null, string, string]>(
      `UPDATE causeway_idempotency
       SET status = 'completed', result = ?, lease_expires_at = ?, expires_at = ? WHERE ${held}`,
    ),
    release: db.prepare<[string, string]>(`DELETE FROM causeway_idempotency WHERE ${held}`),
    expired: db.prepare<[{ now: number }]>(
      `DELETE FROM causeway_idempotency
       WHERE (status = 'completed' AND expires_at <= @now)
          OR (status = 'claimed' AND lease_expires_at <= @now)`,
    ),
  };
}
