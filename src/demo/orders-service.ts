/**
 * The orders service: command bus and `Order` aggregate, the order projection, and the saga
 * runtime that drives each order's fulfilment. It talks to inventory, payments and shipping
 * only through the transport; its HTTP API (http.ts) sits on top of what this returns.
 */
import type { CommandBus } from '../cqrs/bus.js';
import type { EventStore } from '../event-store/event-store.js';
import type { Transport } from '../messaging/create-transport.js';
import type { Consumer, ConsumerOptions } from '../messaging/consumer.js';
import { SagaRuntime } from '../sagas/saga-runtime.js';
import type { SagaStatus, SagaStore } from '../sagas/saga-store.js';
import {
  FULFILMENT,
  fulfilmentId,
  fulfilmentSaga,
  orderCommandBus,
  type FulfilmentData,
  type FulfilmentOptions,
  type OrderCommands,
} from './fulfilment.js';
import type { OrderCreatedData } from './order.js';
import { ORDER_EVENTS, OrderViews } from './order-views.js';
import { CommandClient } from './rpc.js';
import type { DemoSql } from './sql.js';

export const ORDER_REPLIES = 'demo-orders-replies';

export interface OrdersServiceOptions {
  store: EventStore;
  sagaStore: SagaStore;
  transport: Transport;
  /** The orders service's own tables (the order view). */
  sql: DemoSql;
  fulfilment?: FulfilmentOptions;
  /** Options of the consumers (views, saga starter, replies); metrics hook in here. */
  consumer?: (destination: string, group: string) => ConsumerOptions;
}

export interface OrdersService {
  commands: CommandBus<OrderCommands>;
  views: OrderViews;
  runtime: SagaRuntime;
  /** Saga instances of the fulfilment saga by status. */
  sagaCounts(): Promise<Record<SagaStatus, number>>;
  stop(): Promise<void>;
}

export async function startOrdersService(options: OrdersServiceOptions): Promise<OrdersService> {
  const { store, sagaStore, transport, sql } = options;
  const consumer = options.consumer ?? (() => ({}));
  const commands = orderCommandBus(store);
  const client = new CommandClient(transport, ORDER_REPLIES);
  const saga = fulfilmentSaga(commands, client, options.fulfilment);
  const runtime = new SagaRuntime({ store: sagaStore, sagas: [saga], pollIntervalMs: 250 });
  const views = new OrderViews(sql);
  await views.prepare();
  const consumers: Consumer[] = [];

  await client.start('orders', { concurrency: 32, ...consumer(ORDER_REPLIES, 'orders') });
  // Resumes what a crashed orders process left running, before new work arrives.
  await runtime.start();
  consumers.push(
    await transport.subscribe(
      ORDER_EVENTS,
      'order-view',
      (message) => views.apply(message),
      consumer(ORDER_EVENTS, 'order-view'),
    ),
    // OrderCreated starts the order's saga; the saga id makes a redelivery start nothing new.
    await transport.subscribe(
      ORDER_EVENTS,
      'fulfilment',
      async (message) => {
        if (message.type !== 'OrderCreated') return;
        const order = message.data as OrderCreatedData;
        const data: FulfilmentData = { ...order };
        if (message.correlationid !== undefined) data.correlationId = message.correlationid;
        await runtime.begin(saga, data, { id: fulfilmentId(order.orderId) });
      },
      consumer(ORDER_EVENTS, 'fulfilment'),
    ),
  );

  return {
    commands,
    views,
    runtime,
    sagaCounts: () => countSagas(sagaStore),
    async stop() {
      for (const c of consumers) await c.stop();
      await runtime.stop();
      await client.stop();
    },
  };
}

async function countSagas(store: SagaStore): Promise<Record<SagaStatus, number>> {
  const counts: Record<SagaStatus, number> = {
    running: 0,
    compensating: 0,
    completed: 0,
    failed: 0,
    compensation_failed: 0,
  };
  let after: string | undefined;
  for (;;) {
    const page = await store.list({ name: FULFILMENT, limit: 500, ...(after && { after }) });
    for (const instance of page) counts[instance.status]++;
    if (page.length < 500) return counts;
    after = page.at(-1)!.id;
  }
}
