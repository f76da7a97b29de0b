import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';
import { createTransport } from 'causeway';
import { createPostgresTransportDriver } from 'causeway/postgres';
import { transportContract } from '../contracts/transport.contract.js';
import { sqlTransportCases } from './fixtures/sql-transport-cases.js';

const url =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
const schemas: string[] = [];
let counter = 0;

transportContract({
  name: 'postgres',
  async create() {
    // A fresh schema per transport: its own queue tables, dropped in cleanup.
    const schema = `cw_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    const driver = await createPostgresTransportDriver({ connectionString: url, schema });
    const transport = createTransport(driver);
    return {
      transport,
      destination: () => `dest-${++counter}`,
      publishPoison: (destination, body) =>
        driver.publishRaw(destination, [{ headers: { 'content-type': 'application/json' }, body }]),
      deadLetters: async (destination) =>
        (await driver.deadLetters(destination)).map((l) => ({
          body: l.message.body,
          failure: l.failure,
        })),
      close: () => transport.close(),
    };
  },
  cleanup: dropSchemas,
});

// Each driver is another process (its own pool) on one shared schema.
const shared = `cw_test_${randomBytes(6).toString('hex')}`;
sqlTransportCases({
  name: 'postgres',
  open: (options) =>
    createPostgresTransportDriver({ connectionString: url, schema: shared, ...options }),
  destination: () => `dest-${++counter}`,
  // Only a NOTIFY can deliver within the test's bounds.
  crossProcessPollMs: 60_000,
});

afterAll(async () => {
  schemas.push(shared);
  await dropSchemas();
});

async function dropSchemas(): Promise<void> {
  const admin = new pg.Pool({ connectionString: url });
  try {
    for (const schema of schemas.splice(0))
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
}
