import { describe, expect, it } from 'vitest';
import { toMessage } from 'causeway';
import {
  createSqliteEventStore,
  openSqliteDatabase,
  SqliteIdempotencyStore,
  SqliteOutboxStore,
} from 'causeway/sqlite';
import { idempotencyContract } from '../contracts/idempotency.contract.js';
import { inboxContract } from '../contracts/inbox.contract.js';
import { outboxContract } from '../contracts/outbox.contract.js';
import {
  sqliteIdempotencyHarness,
  sqliteInboxHarness,
  sqliteFiles,
  sqliteOutboxHarness,
} from './fixtures/sqlite-messaging-harness.js';
import { eventOutboxCases } from './fixtures/event-outbox-cases.js';
import { idempotencyExpiryCase } from './fixtures/idempotency-expiry-case.js';

outboxContract(sqliteOutboxHarness());
inboxContract(sqliteInboxHarness());
idempotencyContract(sqliteIdempotencyHarness());

const files = sqliteFiles();
const file = files.next();
eventOutboxCases({
  name: 'sqlite',
  async open(destination) {
    // The relay's store uses a connection of its own, as a relay process would.
    const events = createSqliteEventStore({ filename: file, outbox: { destination } });
    const db = openSqliteDatabase(file);
    const outbox = new SqliteOutboxStore(db);
    return {
      events,
      outbox,
      pending: () => outbox.pending(),
      async close() {
        await events.close();
        db.close();
      },
    };
  },
  cleanup: async () => files.cleanup(),
});

idempotencyExpiryCase('SqliteIdempotencyStore', async () => {
  const db = openSqliteDatabase(files.next());
  return { store: new SqliteIdempotencyStore(db), close: async () => void db.close() };
});

describe('SqliteOutboxStore.write inside a synchronous db.transaction', () => {
  it('commits and rolls back with the application rows', async () => {
    const db = openSqliteDatabase(files.next());
    try {
      db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY)');
      const outbox = new SqliteOutboxStore(db);
      const place = db.transaction((id: string, fail: boolean) => {
        db.prepare('INSERT INTO orders (id) VALUES (?)').run(id);
        outbox.write(db, 'orders', [toMessage({ type: 'OrderPlaced', data: { id } })]);
        if (fail) throw new Error('rule broken');
      });
      expect(() => place('o-1', true)).toThrow('rule broken');
      expect(await outbox.pending()).toBe(0);
      place('o-2', false);
      expect(await outbox.pending()).toBe(1);
      const claimed = await outbox.claim('relay', 10, 30_000);
      expect(claimed.map((r) => r.message.data)).toEqual([{ id: 'o-2' }]);
      expect(db.prepare('SELECT id FROM orders').pluck().all()).toEqual(['o-2']);
    } finally {
      db.close();
    }
  });
});
