/**
 * Exactly-once effects over at-least-once messaging, all in one SQLite file: an order row and
 * its message commit together (outbox), the event store queues its events the same way, a relay
 * publishes them, the consumer records each message id with its effects (inbox), and a call to
 * the outside world runs once per idempotency key.
 *
 *   node --conditions=source --import tsx examples/outbox/main.ts [file.db]
 */
import { pathToFileURL } from 'node:url';
// #region snippet
import { createTransport, IdempotencyService, OutboxRelay, toMessage, withInbox } from 'causeway';
import {
  createSqliteEventStore,
  openSqliteDatabase,
  SqliteIdempotencyStore,
  SqliteInboxStore,
  SqliteOutboxStore,
  SqliteTransportDriver,
  withTransaction,
} from 'causeway/sqlite';

export async function runOutboxExample(
  filename = ':memory:',
  log: (line: string) => void = console.log,
): Promise<void> {
  const db = openSqliteDatabase(filename);
  db.exec(`CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL);
           CREATE TABLE IF NOT EXISTS ledger (order_id TEXT PRIMARY KEY, amount INTEGER NOT NULL)`);
  const outbox = new SqliteOutboxStore(db);
  const broker = new SqliteTransportDriver({ database: db });
  const transport = createTransport(broker);

  // The order row and its message commit together, or neither does.
  const placed = toMessage({
    type: 'OrderPlaced',
    data: { id: 'o-1', total: 42 },
    partitionkey: 'o-1',
  });
  await withTransaction(db, async (transaction) => {
    transaction.database.prepare('INSERT INTO orders (id, total) VALUES (?, ?)').run('o-1', 42);
    outbox.write(transaction, 'orders', [placed]);
  });
  // The event store can queue its events in each append's transaction the same way.
  const events = createSqliteEventStore({
    database: db,
    outbox: { destination: (event) => (event.type.startsWith('Order') ? 'orders' : undefined) },
  });
  await events.appendToStream('order-o-2', [
    { type: 'OrderPlaced', data: { id: 'o-2', total: 7 } },
  ]);

  // The consumer's ledger row and its inbox record commit together: a redelivery is a no-op.
  const inbox = new SqliteInboxStore(db);
  let booked = 0;
  let bothBooked!: () => void;
  const done = new Promise<void>((resolve) => (bothBooked = resolve));
  await transport.subscribe(
    'orders',
    'billing',
    withInbox(inbox, 'billing', async (message, transaction) => {
      const { id, total } = message.data as { id: string; total: number };
      transaction.database.prepare('INSERT INTO ledger VALUES (?, ?)').run(id, total);
      if (++booked === 2) bothBooked();
    }),
  );
  const relay = new OutboxRelay({ store: outbox, driver: broker });
  await done;
  await relay.stop();
  await transport.close(); // drains: the handlers' transactions have committed
  log(`relay published ${relay.published}`);
  log(`redelivered o-1: ${await inbox.process('billing', placed.id, async () => {})}`);
  log(`ledger rows: ${db.prepare('SELECT count(*) FROM ledger').pluck().get()}`);

  // Calls to the outside world: the first caller runs, later ones get the stored result.
  const payments = new IdempotencyService(new SqliteIdempotencyStore(db));
  let charges = 0;
  const charge = () => payments.process('charge-o-1', async () => ({ receipt: `r-${++charges}` }));
  log(`receipts: ${(await charge()).receipt}, ${(await charge()).receipt}; charged ${charges}x`);
  await events.close();
  db.close();
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await runOutboxExample(process.argv[2]);
