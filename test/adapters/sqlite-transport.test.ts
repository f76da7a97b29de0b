import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { toMessage } from 'causeway';
import { SqliteTransportDriver, withTransaction } from 'causeway/sqlite';
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

it('gives same-key publishes their call order even when an async transaction opens between them', async () => {
  const driver = new SqliteTransportDriver({ filename: join(root, `order-${++files}.db`) });
  try {
    const destination = `dest-${++counter}`;
    const message = (id: string) =>
      toMessage({ id, type: 'order.noted', data: {}, partitionkey: 'order-1' });
    // Issued without awaiting, with a transaction on the same file (an outbox write, an inline
    // projection) opening in between: consumers see a key's messages in position order.
    const published = [
      driver.publish(destination, [message('first')]),
      withTransaction(driver.database, async () => undefined),
      driver.publish(destination, [message('second')]),
    ];
    await Promise.all(published);
    const ids = driver.database
      .prepare<[string], string>(
        'SELECT id FROM causeway_messages WHERE destination = ? ORDER BY position',
      )
      .pluck()
      .all(destination);
    expect(ids).toEqual(['first', 'second']);
  } finally {
    await driver.close();
  }
});
