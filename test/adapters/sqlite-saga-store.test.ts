import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, SqliteSagaStore, type SqliteDatabase } from 'causeway/sqlite';
import { sagaStoreContract } from '../contracts/saga-store.contract.js';
import { sqliteSagaHarness } from './fixtures/sqlite-saga-harness.js';

sagaStoreContract(sqliteSagaHarness());

describe('SqliteSagaStore: indexes', () => {
  let db: SqliteDatabase;
  const file = join(tmpdir(), `causeway-saga-plan-${randomBytes(6).toString('hex')}.db`);
  afterEach(() => {
    db.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  });

  /** The indexes SQLite's planner picks for `sql` (EXPLAIN QUERY PLAN's details). */
  const plan = (sql: string) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
      .map((row) => row.detail)
      .join('\n');

  it('claims walk the partial index of active instances; lists by status or name use theirs', () => {
    db = openSqliteDatabase(file);
    new SqliteSagaStore(db);
    expect(
      plan(`SELECT id FROM causeway_sagas
            WHERE name IN ('checkout') AND status IN ('running', 'compensating')
              AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= 0)
            ORDER BY created_at, id LIMIT 10`),
    ).toContain('causeway_sagas_resumable');
    expect(
      plan(`SELECT * FROM causeway_sagas WHERE status IN ('failed') ORDER BY id LIMIT 100`),
    ).toMatch(/causeway_sagas_by_status/);
    expect(
      plan(`SELECT * FROM causeway_sagas WHERE name = 'checkout' AND status IN ('failed')
            ORDER BY id LIMIT 100`),
    ).toMatch(/causeway_sagas_by_name/);
  });
});
