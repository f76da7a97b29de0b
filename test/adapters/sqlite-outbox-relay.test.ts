import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  createTransport,
  MemoryTransportDriver,
  OutboxRelay,
  toMessage,
  type Message,
} from 'causeway';
import {
  openSqliteDatabase,
  SqliteOutboxStore,
  SqliteTransportDriver,
  type SqliteDatabase,
} from 'causeway/sqlite';
import { sqliteFiles } from './fixtures/sqlite-messaging-harness.js';

const files = sqliteFiles();
afterAll(() => files.cleanup());

function message(i: number, partitionkey?: string): Message {
  return toMessage({
    type: 'OrderChanged',
    data: { i },
    ...(partitionkey === undefined ? {} : { partitionkey }),
  });
}

function write(db: SqliteDatabase, store: SqliteOutboxStore, messages: Message[]) {
  db.transaction(() => store.write(db, 'orders', messages))();
}

describe('OutboxRelay from a SQLite outbox into the SQLite transport of the same file', () => {
  it('moves records in one transaction: consumers get each once, keys in order, nothing left unsent', async () => {
    const db = openSqliteDatabase(files.next());
    const store = new SqliteOutboxStore(db);
    const driver = new SqliteTransportDriver({ database: db });
    const publish = vi.spyOn(driver, 'publish');
    const transport = createTransport(driver);
    const received: Message[] = [];
    const total = 250;
    let all!: () => void;
    const done = new Promise<void>((resolve) => (all = resolve));
    await transport.subscribe('orders', 'billing', (m) => {
      received.push(m);
      if (received.length === total) all();
    });
    const written = Array.from({ length: total }, (_, i) => message(i, `k${i % 3}`));
    for (let i = 0; i < total; i += 50) write(db, store, written.slice(i, i + 50));
    const relay = new OutboxRelay({ store, driver, batchSize: 100 });
    try {
      await done;
      expect(publish).not.toHaveBeenCalled();
      expect(relay.published).toBe(total);
      expect(await store.pending()).toBe(0);
      expect(new Set(received.map((m) => m.id)).size).toBe(total);
      for (const key of ['k0', 'k1', 'k2']) {
        const order = received
          .filter((m) => m.partitionkey === key)
          .map((m) => (m.data as { i: number }).i);
        expect(order).toEqual([...order].sort((a, b) => a - b));
      }
      expect(received.find((m) => m.id === written[7]!.id)).toEqual(written[7]);
    } finally {
      await relay.stop();
      await transport.close();
      db.close();
    }
  });

  it('keeps a key waiting while an older record of it is claimed by a relay publishing elsewhere', async () => {
    const db = openSqliteDatabase(files.next());
    const store = new SqliteOutboxStore(db);
    const driver = new SqliteTransportDriver({ database: db });
    try {
      write(db, store, [message(1, 'a'), message(2, 'a'), message(3, 'b')]);
      const held = await store.claim('other-relay', 1, 30_000);
      expect(held.map((r) => (r.message.data as { i: number }).i)).toEqual([1]);
      expect(await store.relayInto(driver, 'direct', 10)).toBe(1);
      expect(await store.pending()).toBe(2);
      await store.markSent('other-relay', [held[0]!.sequence]);
      expect(await store.relayInto(driver, 'direct', 10)).toBe(1);
      expect(await store.pending()).toBe(0);
      const positions = db
        .prepare<[], number>(
          "SELECT json_extract(body, '$.i') FROM causeway_messages ORDER BY position",
        )
        .pluck()
        .all();
      expect(positions).toEqual([3, 2]);
    } finally {
      await driver.close();
      db.close();
    }
  });

  it('declines drivers it cannot write to, and the relay publishes through them', async () => {
    const db = openSqliteDatabase(files.next());
    const elsewhere = new SqliteTransportDriver({ filename: files.next() });
    const memory = new MemoryTransportDriver();
    const store = new SqliteOutboxStore(db);
    try {
      expect(await store.relayInto(elsewhere, 'r', 10)).toBeUndefined();
      expect(await store.relayInto(memory, 'r', 10)).toBeUndefined();
      const publish = vi.spyOn(elsewhere, 'publish');
      write(db, store, [message(1), message(2)]);
      const relay = new OutboxRelay({ store, driver: elsewhere });
      await vi.waitFor(() => expect(relay.published).toBe(2));
      await relay.stop();
      expect(publish).toHaveBeenCalledTimes(1);
      expect(await store.pending()).toBe(0);
    } finally {
      await elsewhere.close();
      await memory.close();
      db.close();
    }
  });

  it('refuses a closed driver instead of writing to its tables', async () => {
    const db = openSqliteDatabase(files.next());
    const store = new SqliteOutboxStore(db);
    const driver = new SqliteTransportDriver({ database: db });
    try {
      write(db, store, [message(1)]);
      await driver.close();
      await expect(store.relayInto(driver, 'r', 10)).rejects.toMatchObject({
        code: 'STORE_CLOSED',
      });
      expect(await store.pending()).toBe(1);
    } finally {
      db.close();
    }
  });
});
