/**
 * The order service wired from Causeway's parts: commands through the command bus into the
 * `Order` aggregate, events into the order read model, queries through the query bus.
 */
import { z } from 'zod';
import {
  AggregateRepository,
  CommandBus,
  idempotency,
  MemoryIdempotencyStore,
  QueryBus,
  validation,
  type EventStore,
  type ProjectionStore,
} from 'causeway';
import { Order, type OrderItem } from './order.js';
import { orderViews, type OrderView } from './read-model.js';

export type OrderCommands = {
  RegisterCustomer: { payload: { customerId: string; name: string }; result: void };
  CatalogueProduct: { payload: { productId: string; name: string }; result: void };
  CreateOrder: {
    payload: { orderId: string; customerId: string; items: OrderItem[] };
    result: { orderId: string; version: number };
  };
  ConfirmOrder: { payload: { orderId: string }; result: { version: number } };
  CancelOrder: { payload: { orderId: string; reason: string }; result: { version: number } };
};

export type OrderQueries = {
  GetOrder: { payload: { orderId: string }; result: OrderView | undefined };
  ListOrdersByStatus: { payload: { status: string; limit?: number }; result: OrderView[] };
};

const item = z.object({
  productId: z.string().min(1),
  quantity: z.number().int().positive(),
  unitPrice: z.number().nonnegative(),
});

export function createOrderService(store: EventStore, projections: ProjectionStore) {
  const orders = new AggregateRepository<Order>({
    store,
    create: (id) => new Order(id),
    streamId: Order.streamId,
  });
  const commands = new CommandBus<OrderCommands>().use(
    validation({
      RegisterCustomer: z.object({ customerId: z.string().min(1), name: z.string().min(1) }),
      CatalogueProduct: z.object({ productId: z.string().min(1), name: z.string().min(1) }),
      CreateOrder: z.object({
        orderId: z.string().min(1),
        customerId: z.string().min(1),
        items: z.array(item).min(1),
      }),
      ConfirmOrder: z.object({ orderId: z.string().min(1) }),
      CancelOrder: z.object({ orderId: z.string().min(1), reason: z.string().min(1) }),
    }),
    idempotency(new MemoryIdempotencyStore()),
  );

  commands.register('RegisterCustomer', async ({ payload }) => {
    await store.appendToStream(
      `customer-${payload.customerId}`,
      [{ type: 'CustomerRegistered', data: payload }],
      { expectedVersion: 'no_stream' },
    );
  });
  commands.register('CatalogueProduct', async ({ payload }) => {
    await store.appendToStream(`product-${payload.productId}`, [
      { type: 'ProductCatalogued', data: payload },
    ]);
  });
  commands.register('CreateOrder', async ({ payload }) => {
    const { append } = await orders.update(payload.orderId, (order) =>
      order.create(payload.customerId, payload.items),
    );
    return { orderId: payload.orderId, version: append.nextExpectedVersion };
  });
  commands.register('ConfirmOrder', async ({ payload }) => {
    const { append } = await orders.update(payload.orderId, (order) => order.confirm());
    return { version: append.nextExpectedVersion };
  });
  commands.register('CancelOrder', async ({ payload }) => {
    const { append } = await orders.update(payload.orderId, (order) =>
      order.cancel(payload.reason),
    );
    return { version: append.nextExpectedVersion };
  });

  const queries = new QueryBus<OrderQueries>();
  queries.register('GetOrder', ({ payload }) =>
    projections.reader().table(orderViews).findById(payload.orderId),
  );
  queries.register('ListOrdersByStatus', ({ payload }) =>
    projections
      .reader()
      .table(orderViews)
      .find({
        where: { status: payload.status },
        orderBy: 'created_at',
        limit: payload.limit ?? 50,
      }),
  );

  return { commands, queries };
}
