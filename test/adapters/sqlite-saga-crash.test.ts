import { openSqliteDatabase, SqliteSagaStore } from 'causeway/sqlite';
import { sagaCrashCases, type SagaLedgerCall } from './fixtures/saga-crash-cases.js';
import { sqliteFiles } from './fixtures/sqlite-messaging-harness.js';

const files = sqliteFiles();

sagaCrashCases({
  name: 'sqlite',
  async prepare() {
    const target = files.next();
    const db = openSqliteDatabase(target);
    const store = new SqliteSagaStore(db);
    db.exec(`
      CREATE TABLE saga_effects (key TEXT PRIMARY KEY, effect TEXT NOT NULL, owner TEXT NOT NULL);
      CREATE TABLE saga_calls (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, owner TEXT NOT NULL,
        at_ms INTEGER NOT NULL
      );
    `);
    return {
      target,
      store,
      calls: async () =>
        db
          .prepare('SELECT key, owner, at_ms AS atMs FROM saga_calls ORDER BY seq')
          .all() as SagaLedgerCall[],
      effects: async () =>
        new Map(
          (
            db.prepare('SELECT key, effect FROM saga_effects').all() as {
              key: string;
              effect: string;
            }[]
          ).map((row) => [row.key, row.effect]),
        ),
      close: async () => void db.close(),
    };
  },
  async cleanup() {
    files.cleanup();
  },
});
