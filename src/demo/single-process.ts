/**
 * Single-process mode: the four services in one process on one SQLite file — event store
 * (with its outbox), saga store, SQLite transport, dead letters and every service's tables.
 * They still talk only through the transport, exactly as they do when distributed.
 */
import {
  createSqliteEventStore,
  openSqliteDatabase,
  SqliteOutboxStore,
  SqliteSagaStore,
  SqliteTransportDriver,
} from '../adapters/sqlite/index.js';
import { createTransport } from '../messaging/create-transport.js';
import type { Consumer } from '../messaging/consumer.js';
import type { FailureInfo } from '../messaging/message.js';
import { OutboxRelay } from '../messaging/outbox.js';
import type { FulfilmentOptions } from './fulfilment.js';
import { demoMetrics } from './metrics.js';
import { startOrdersService } from './orders-service.js';
import { ORDER_EVENTS } from './order-views.js';
import { startService, type ServiceName } from './services.js';
import { sqliteSql } from './sql.js';
import type { DemoSystem } from './system.js';

export async function startSingleProcess(
  filename: string,
  options: { fulfilment?: FulfilmentOptions } = {},
): Promise<DemoSystem> {
  const db = openSqliteDatabase(filename);
  const store = createSqliteEventStore({
    database: db,
    outbox: {
      destination: (event) => (event.streamId.startsWith('order-') ? ORDER_EVENTS : undefined),
    },
  });
  const outbox = new SqliteOutboxStore(db);
  const driver = new SqliteTransportDriver({ database: db });
  const metrics = demoMetrics();
  const transport = createTransport(driver);
  const relay = new OutboxRelay({ store: outbox, driver });
  const sql = sqliteSql(db);
  const deadLetterListeners = new Set<() => void>();
  const onDeadLetter = (_failure: FailureInfo) => {
    for (const listener of deadLetterListeners) listener();
  };
  const services: ServiceName[] = ['inventory', 'payments', 'shipping'];
  const consumers: Consumer[] = [];
  for (const service of services)
    consumers.push(
      await startService(service, sql, transport, { onDeadLetter, ...metrics.consumer }),
    );
  const sagaStore = new SqliteSagaStore(db);
  const orders = await startOrdersService({
    store,
    sagaStore,
    transport,
    sql,
    ...(options.fulfilment && { fulfilment: options.fulfilment }),
    consumer: () => ({ onDeadLetter, ...metrics.consumer }),
  });
  const deadLetters = driver.deadLetterStore;
  metrics.watch({ deadLetters, outbox, sagas: sagaStore, events: store, views: orders.views });
  return {
    description: `single process · SQLite ${filename}`,
    orders,
    transport,
    deadLetters,
    ledgers: sql,
    metrics,
    async waitForDeadLetters(wanted, signal) {
      // Listen first, then count: a letter stored in between still wakes us.
      await new Promise<void>((resolve, reject) => {
        const check = () =>
          void deadLetters.count().then((n) => {
            if (n < wanted) return;
            deadLetterListeners.delete(check);
            resolve();
          }, reject);
        deadLetterListeners.add(check);
        signal.addEventListener('abort', () => deadLetterListeners.delete(check), { once: true });
        check();
      });
    },
    async close() {
      await orders.stop();
      for (const consumer of consumers) await consumer.stop();
      await relay.stop();
      await transport.close();
      await store.close();
      db.close();
    },
  };
}
