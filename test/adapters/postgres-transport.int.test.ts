import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';
import { createPostgresTransportDriver } from 'causeway/postgres';
import { transportContract } from '../contracts/transport.contract.js';
import { createHarness, postgresUrl } from './fixtures/postgres-transport-harness.js';
import { sqlDeadLetterCases } from './fixtures/sql-dead-letter-cases.js';
import { sqlTransportCases } from './fixtures/sql-transport-cases.js';

let counter = 0;

transportContract(createHarness());

// Each driver is another process (its own pool) on one shared schema.
const shared = `cw_test_${randomBytes(6).toString('hex')}`;
sqlTransportCases({
  name: 'postgres',
  open: (options) =>
    createPostgresTransportDriver({ connectionString: postgresUrl, schema: shared, ...options }),
  destination: () => `dest-${++counter}`,
  // Only a NOTIFY can deliver within the test's bounds.
  crossProcessPollMs: 60_000,
});

sqlDeadLetterCases({
  name: 'postgres',
  open: () => createPostgresTransportDriver({ connectionString: postgresUrl, schema: shared }),
  destination: () => `dest-${++counter}`,
});

afterAll(async () => {
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS "${shared}" CASCADE`);
  } finally {
    await admin.end();
  }
});
