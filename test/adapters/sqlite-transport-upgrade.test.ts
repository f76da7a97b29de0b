import { afterAll, describe, expect, it } from 'vitest';
import { createTransport, type Message } from 'causeway';
import { openSqliteDatabase, SqliteTransportDriver } from 'causeway/sqlite';
import { sqliteFiles } from './fixtures/sqlite-messaging-harness.js';

const files = sqliteFiles();
afterAll(() => files.cleanup());

describe('SQLite schema 8: delivery rows move into a WITHOUT ROWID table', () => {
  it('a file written by schema 7 keeps its pending deliveries, and consumers get them', async () => {
    const file = files.next();
    // A file as schema 7 left it: the rowid delivery table and its full per-key index, with
    // messages published for a group that has not consumed them yet.
    const publisher = new SqliteTransportDriver({ filename: file });
    const transport = createTransport(publisher);
    await (await transport.subscribe('orders', 'billing', () => undefined)).stop();
    await transport.publish('orders', [
      { type: 'OrderPlaced', data: { n: 1 }, partitionkey: 'a' },
      { type: 'OrderPlaced', data: { n: 2 } },
    ]);
    await transport.close();
    const old = openSqliteDatabase(file);
    old.exec(`
      CREATE TABLE v6 AS SELECT * FROM causeway_deliveries;
      DROP TABLE causeway_deliveries;
      CREATE TABLE causeway_deliveries (
        destination TEXT NOT NULL, group_name TEXT NOT NULL, position INTEGER NOT NULL,
        partition_key TEXT, attempt INTEGER NOT NULL DEFAULT 1, available_at INTEGER NOT NULL,
        locked_by TEXT, locked_until INTEGER, first_failure_at INTEGER,
        PRIMARY KEY (destination, group_name, position));
      CREATE INDEX causeway_deliveries_by_key
        ON causeway_deliveries (destination, group_name, partition_key, position);
      INSERT INTO causeway_deliveries SELECT * FROM v6;
      DROP TABLE v6;
      DELETE FROM causeway_schema WHERE version >= 8;`);
    old.close();

    const upgraded = new SqliteTransportDriver({ filename: file });
    const consumer = createTransport(upgraded);
    try {
      const table = upgraded.database
        .prepare<[], string>("SELECT sql FROM sqlite_schema WHERE name = 'causeway_deliveries'")
        .pluck()
        .get();
      expect(table).toMatch(/WITHOUT ROWID/);
      const received: Message[] = [];
      let both!: () => void;
      const done = new Promise<void>((resolve) => (both = resolve));
      await consumer.subscribe('orders', 'billing', (m) => {
        received.push(m);
        if (received.length === 2) both();
      });
      await done;
      expect(received.map((m) => m.data)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(received[0]!.partitionkey).toBe('a');
    } finally {
      await consumer.close();
    }
  });
});
