import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteTransportDriver } from 'causeway/sqlite';
import { transportContract } from '../contracts/transport.contract.js';
import { createHarness } from './fixtures/sqlite-transport-harness.js';
import { sqlDeadLetterCases } from './fixtures/sql-dead-letter-cases.js';
import { sqlTransportCases } from './fixtures/sql-transport-cases.js';

const root = mkdtempSync(join(tmpdir(), 'causeway-sqlite-transport-'));
let files = 0;
let counter = 0;

transportContract(createHarness());

// Each driver is another process on one shared file; SQLite has no NOTIFY, so they poll.
const shared = join(root, 'shared.db');
sqlTransportCases({
  name: 'sqlite',
  open: async (options) => new SqliteTransportDriver({ filename: shared, ...options }),
  destination: () => `dest-${++counter}`,
  crossProcessPollMs: 50,
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

sqlDeadLetterCases({
  name: 'sqlite',
  open: async () =>
    new SqliteTransportDriver({ filename: join(root, `dlq-${++files}.db`), pollIntervalMs: 20 }),
  destination: () => `dest-${++counter}`,
});
