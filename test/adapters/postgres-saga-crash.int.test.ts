import pg from 'pg';
import { createPostgresSagaStore } from 'causeway/postgres';
import { sagaCrashCases, type SagaLedgerCall } from './fixtures/saga-crash-cases.js';
import { postgresSchemas, postgresUrl } from './fixtures/postgres-messaging-harness.js';

const schemas = postgresSchemas();

sagaCrashCases({
  name: 'postgres',
  async prepare() {
    const target = schemas.next();
    const store = await createPostgresSagaStore({ connectionString: postgresUrl, schema: target });
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
    await pool.query(`
      CREATE TABLE "${target}".saga_effects (key text PRIMARY KEY, effect text NOT NULL, owner text NOT NULL);
      CREATE TABLE "${target}".saga_calls (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key text NOT NULL, owner text NOT NULL,
        at_ms bigint NOT NULL
      );
    `);
    return {
      target,
      store,
      async calls() {
        const { rows } = await pool.query<{ key: string; owner: string; at_ms: string }>(
          `SELECT key, owner, at_ms FROM "${target}".saga_calls ORDER BY seq`,
        );
        return rows.map((row): SagaLedgerCall => ({ ...row, atMs: Number(row.at_ms) }));
      },
      async effects() {
        const { rows } = await pool.query<{ key: string; effect: string }>(
          `SELECT key, effect FROM "${target}".saga_effects`,
        );
        return new Map(rows.map((row) => [row.key, row.effect]));
      },
      async close() {
        await store.close();
        await pool.end();
      },
    };
  },
  cleanup: () => schemas.drop(),
});
