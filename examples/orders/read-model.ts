/**
 * The order read model: one row per order, enriched with the customer's name and the
 * products' names, kept by one projection that also tracks customers and products.
 */
import { defineProjection, defineTable, type ReadModelSession } from 'causeway';
import type { OrderItem } from './order.js';

export interface OrderView extends Record<string, unknown> {
  id: string;
  customer_id: string;
  customer_name: string;
  status: string;
  items: { productId: string; name: string; quantity: number; unitPrice: number }[];
  total: number;
  created_at: Date;
  updated_at: Date;
}

export const orderViews = defineTable<OrderView>({
  name: 'order_views',
  primaryKey: 'id',
  columns: {
    id: 'text',
    customer_id: 'text',
    customer_name: 'text',
    status: 'text',
    items: 'json',
    total: 'real',
    created_at: 'timestamp',
    updated_at: 'timestamp',
  },
  indexes: [['status', 'created_at'], ['customer_id']],
});

export const customers = defineTable<{ id: string; name: string }>({
  name: 'customers',
  primaryKey: 'id',
  columns: { id: 'text', name: 'text' },
});

export const products = defineTable<{ id: string; name: string }>({
  name: 'products',
  primaryKey: 'id',
  columns: { id: 'text', name: 'text' },
});

async function setStatus(
  session: ReadModelSession,
  orderId: string,
  status: string,
  at: Date,
): Promise<void> {
  await session.table(orderViews).patch(orderId, { status, updated_at: at });
}

export const orderReadModel = defineProjection({
  name: 'order-read-model',
  tables: [orderViews, customers, products],
  handlers: {
    CustomerRegistered: async (event, session) => {
      const { customerId, name } = event.data as { customerId: string; name: string };
      await session.table(customers).upsert({ id: customerId, name });
    },
    ProductCatalogued: async (event, session) => {
      const { productId, name } = event.data as { productId: string; name: string };
      await session.table(products).upsert({ id: productId, name });
    },
    OrderCreated: async (event, session) => {
      const data = event.data as {
        orderId: string;
        customerId: string;
        items: OrderItem[];
        total: number;
      };
      const customer = await session.table(customers).findById(data.customerId);
      const items = [];
      for (const item of data.items) {
        const product = await session.table(products).findById(item.productId);
        items.push({ ...item, name: product?.name ?? `(unknown product ${item.productId})` });
      }
      await session.table(orderViews).upsert({
        id: data.orderId,
        customer_id: data.customerId,
        customer_name: customer?.name ?? `(unknown customer ${data.customerId})`,
        status: 'pending',
        items,
        total: data.total,
        created_at: event.time,
        updated_at: event.time,
      });
    },
    OrderConfirmed: (event, session) =>
      setStatus(session, (event.data as { orderId: string }).orderId, 'confirmed', event.time),
    OrderShipped: (event, session) =>
      setStatus(session, (event.data as { orderId: string }).orderId, 'shipped', event.time),
    OrderCancelled: (event, session) =>
      setStatus(session, (event.data as { orderId: string }).orderId, 'cancelled', event.time),
  },
});
