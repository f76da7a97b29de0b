import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createTransport } from 'causeway';
import { SqliteTransportDriver } from 'causeway/sqlite';
import { transportContract } from '../contracts/transport.contract.js';
import { sqlDeadLetterCases } from './fixtures/sql-dead-letter-cases.js';
import { sqlTransportCases } from './fixtures/sql-transport-cases.js';

const root = mkdtempSync(join(tmpdir(), 'causeway-sqlite-transport-'));
let files = 0;
let counter = 0;

transportContract({
  name: 'sqlite',
  async create() {
    // A short poll interval keeps the contract quick; this process's own work wakes consumers anyway.
    const driver = new SqliteTransportDriver({
      filename: join(root, `transport-${++files}.db`),
      pollIntervalMs: 20,
    });
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
  async cleanup() {},
});

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
