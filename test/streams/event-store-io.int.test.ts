import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';
import { createPostgresEventStore } from 'causeway/postgres';
import { eventStoreIoCases } from './fixtures/event-store-io-cases.js';

const url =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
const schemas: string[] = [];

afterAll(async () => {
  const admin = new pg.Pool({ connectionString: url, max: 1 });
  try {
    for (const schema of schemas.splice(0))
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
});

eventStoreIoCases('postgres', async () => {
  const schema = `cw_streams_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  const store = await createPostgresEventStore({ connectionString: url, schema });
  return { store, close: () => store.close() };
});
