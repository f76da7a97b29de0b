/**
 * A process manager with a durable timer, in one file: an order that is not paid within 30
 * minutes is cancelled. State, timers, processed-message records and the emitted commands
 * live in one SQLite file and commit together; the "restart" in the middle shows that a
 * pending timer survives the process and fires once afterwards. The clock is a `ManualClock`,
 * so the 30 minutes take no time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// #region snippet
import {
  defineProcessManager,
  ManualClock,
  ProcessManagerRuntime,
  TimerScheduler,
  toMessage,
} from 'causeway';
import { openSqliteDatabase, SqliteOutboxStore, SqliteProcessStore } from 'causeway/sqlite';

type Order = { orderId: string; amount?: number };
const orderId = (message: { data: unknown }) => (message.data as Order).orderId;

const fulfilment = defineProcessManager({
  name: 'fulfilment',
  correlate: { OrderPlaced: orderId, PaymentReceived: orderId },
  initialState: { status: 'awaiting_payment', amount: 0 },
  startedBy: ['OrderPlaced'], // a payment for an unknown order is acknowledged and ignored
  handlers: {
    OrderPlaced: (state, message, ctx) => {
      ctx.schedule('payment-timeout', { in: 30 * 60_000 });
      return { ...state, amount: (message.data as Order).amount ?? 0 };
    },
    PaymentReceived: (state, _message, ctx) => {
      ctx.cancel('payment-timeout');
      ctx.emit('shipping', { type: 'ShipOrder', data: { orderId: ctx.key } });
      ctx.complete();
      return { ...state, status: 'paid' };
    },
  },
  timers: {
    'payment-timeout': (state, _timer, ctx) => {
      ctx.emit('orders', { type: 'CancelOrder', data: { orderId: ctx.key } });
      ctx.complete();
      return { ...state, status: 'cancelled' };
    },
  },
});

export async function runProcessManagerExample(
  file: string,
  log: (line: string) => void = console.log,
): Promise<void> {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  let db = openSqliteDatabase(file);
  let runtime = new ProcessManagerRuntime({
    store: new SqliteProcessStore(db),
    managers: [fulfilment],
    clock,
  });
  // In production: Consumer.start(driver, 'orders', 'fulfilment', runtime.messageHandler),
  // or eventStore.subscribe('fulfilment', runtime.eventHandler). Here, two orders by hand:
  await runtime.handle(toMessage({ type: 'OrderPlaced', data: { orderId: 'o-1', amount: 30 } }));
  await runtime.handle(toMessage({ type: 'OrderPlaced', data: { orderId: 'o-2', amount: 50 } }));
  await runtime.handle(toMessage({ type: 'PaymentReceived', data: { orderId: 'o-2' } }));

  db.close(); // the process stops; o-1's timer is a row in the file
  db = openSqliteDatabase(file);
  const store = new SqliteProcessStore(db);
  runtime = new ProcessManagerRuntime({ store, managers: [fulfilment], clock });
  const scheduler = new TimerScheduler({ store: store.timers, fire: runtime.fireTimer, clock });

  clock.advance(30 * 60_000);
  log(`timers fired: ${await scheduler.runDue()}, then ${await scheduler.runDue()}`);
  for (const key of ['o-1', 'o-2']) {
    const instance = await runtime.get('fulfilment', key);
    log(`${key}: ${JSON.stringify(instance?.state)} (${instance?.status})`);
  }
  // An OutboxRelay publishes these to the broker; here we just look at them.
  for (const record of await new SqliteOutboxStore(db).claim('example', 10, 1_000)) {
    log(
      `outbox → ${record.destination}: ${record.message.type} ${JSON.stringify(record.message.data)}`,
    );
  }
  db.close();
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = mkdtempSync(join(tmpdir(), 'causeway-pm-'));
  runProcessManagerExample(join(dir, 'app.db'))
    .finally(() => rmSync(dir, { recursive: true, force: true }))
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
