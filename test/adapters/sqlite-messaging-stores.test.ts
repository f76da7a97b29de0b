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
