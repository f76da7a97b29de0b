/**
 * The few SQL statements the demo's services run, on SQLite (one file, single-process mode)
 * or PostgreSQL (distributed mode). Statements are written once with `?` placeholders; the
 * PostgreSQL side numbers them. Each service keeps its ledger in its own tables.
 */
import type { SqliteDatabase } from '../adapters/sqlite/index.js';
import { withTransaction } from '../adapters/sqlite/index.js';

/** Statements inside one transaction. */
export interface SqlSession {
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface DemoSql extends SqlSession {
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs `work` in one transaction: every statement commits, or none does. */
  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A structural `pg.Pool`: the demo never imports `pg` itself (it is an optional peer). */
export interface PgPoolLike {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
  connect(): Promise<{
    query(sql: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
    release(error?: Error): void;
  }>;
  end(): Promise<void>;
}

/** SQLite through the file's transaction gate, so it interleaves safely with Causeway's stores. */
export function sqliteSql(db: SqliteDatabase): DemoSql {
  const session = (target: SqliteDatabase): SqlSession => ({
    run: async (sql, params = []) => target.prepare(sql).run(...params).changes,
    all: async <T>(sql: string, params: readonly unknown[] = []) =>
      target.prepare(sql).all(...params) as T[],
  });
  return {
    dialect: 'sqlite',
    run: (sql, params) => withTransaction(db, (tx) => session(tx.database).run(sql, params)),
    all: <T>(sql: string, params?: readonly unknown[]) =>
      withTransaction(db, (tx) => session(tx.database).all<T>(sql, params)),
    transaction: (work) => withTransaction(db, (tx) => work(session(tx.database))),
    close: async () => undefined,
  };
}

/** PostgreSQL: `?` becomes `$1, $2, …`; a transaction holds one pooled connection. */
export function postgresSql(pool: PgPoolLike): DemoSql {
  const numbered = (sql: string) => {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  };
  type Client = Pick<PgPoolLike, 'query'>;
  const session = (client: Client): SqlSession => ({
    run: async (sql, params = []) => (await client.query(numbered(sql), [...params])).rowCount ?? 0,
    all: async <T>(sql: string, params: readonly unknown[] = []) =>
      (await client.query(numbered(sql), [...params])).rows as T[],
  });
  return {
    dialect: 'postgres',
    ...session(pool),
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(session(client));
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release(error instanceof Error ? error : undefined);
        throw error;
      }
    },
    close: () => pool.end(),
  };
}
