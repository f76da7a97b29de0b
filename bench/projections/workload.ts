/**
 * What both sides of the projections suite do, so the raw loops and Causeway differ only in
 * the code under test: the same events, the same read-model rows, the same commands.
 */
import {
  defineProjection,
  defineTable,
  DomainError,
  type Decider,
  type DomainEvent,
  type NewEvent,
  type ProjectionDefinition,
} from 'causeway';

/** One side of a case: opened once on prepared storage, then measured round by round. */
export interface Contender {
  /** One timed unit of work (a full catch-up, or a window of commands); untimed reset inside. */
  round(windowMs: number): Promise<{ units: number; elapsedMs: number }>;
  close(): Promise<void>;
}

export type Opener = { label: string; open: () => Promise<Contender> } | { reason: string };

// ---------------------------------------------------------------------------------------------
// (a) Async catch-up: an order read model fed by customer and order events.

/** Events per read page and per projection transaction, on both sides (the runner's default). */
export const PAGE_SIZE = 500;
export const CATCH_UP_TYPES = ['CustomerRegistered', 'OrderPlaced', 'OrderConfirmed'] as const;
const CUSTOMERS = 1_000;

/**
 * Event `i` of the seeded log: every 100th registers a customer, the others place an order and
 * confirm it two events later. Each handler does one lookup by key and one upsert.
 */
export function catchUpEvent(i: number): NewEvent {
  if (i % 100 === 0)
    return {
      type: 'CustomerRegistered',
      data: { customerId: `c-${(i / 100) % CUSTOMERS}`, name: `Customer ${i / 100}` },
    };
  const order = `o-${Math.floor(i / 2)}`;
  return i % 2 === 1
    ? {
        type: 'OrderPlaced',
        data: {
          orderId: order,
          customerId: `c-${Math.floor(i / 2) % CUSTOMERS}`,
          total: 10 + (i % 90),
        },
      }
    : { type: 'OrderConfirmed', data: { orderId: `o-${Math.floor(i / 2) - 1}` } };
}

export const SEED_BATCH = 500;

/** Seeds `count` catch-up events through `append`, in appends of `SEED_BATCH` to new streams. */
export async function seedCatchUp(
  count: number,
  append: (stream: string, events: NewEvent[]) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < count; start += SEED_BATCH) {
    const size = Math.min(SEED_BATCH, count - start);
    await append(
      `seed-${start / SEED_BATCH}`,
      Array.from({ length: size }, (_, k) => catchUpEvent(start + k)),
    );
  }
}

export interface CustomerRow extends Record<string, unknown> {
  id: string;
  name: string;
}

export interface OrderRow extends Record<string, unknown> {
  id: string;
  customer_id: string;
  customer_name: string;
  status: string;
  total: number;
  updated_at: Date;
}

export const customerTable = defineTable<CustomerRow>({
  name: 'bench_customers',
  primaryKey: 'id',
  columns: { id: 'text', name: 'text' },
});

export const orderTable = defineTable<OrderRow>({
  name: 'bench_orders',
  primaryKey: 'id',
  columns: {
    id: 'text',
    customer_id: 'text',
    customer_name: 'text',
    status: 'text',
    total: 'real',
    updated_at: 'timestamp',
  },
});

interface CustomerData {
  customerId: string;
  name: string;
}
interface PlacedData {
  orderId: string;
  customerId: string;
  total: number;
}
interface ConfirmedData {
  orderId: string;
}

/** The order read model, as an application writes it with Causeway. */
export const orderReadModel: ProjectionDefinition = defineProjection({
  name: 'bench-order-read-model',
  tables: [customerTable, orderTable],
  handlers: {
    CustomerRegistered: async (event, session) => {
      const data = event.data as CustomerData;
      const customers = session.table(customerTable);
      const known = await customers.findById(data.customerId);
      await customers.upsert({ id: data.customerId, name: known?.name ?? data.name });
    },
    OrderPlaced: async (event, session) => {
      const data = event.data as PlacedData;
      const customer = await session.table(customerTable).findById(data.customerId);
      await session.table(orderTable).upsert({
        id: data.orderId,
        customer_id: data.customerId,
        customer_name: customer?.name ?? '?',
        status: 'placed',
        total: data.total,
        updated_at: event.time,
      });
    },
    OrderConfirmed: async (event, session) => {
      const data = event.data as ConfirmedData;
      const orders = session.table(orderTable);
      const order = await orders.findById(data.orderId);
      if (order) await orders.upsert({ ...order, status: 'confirmed', updated_at: event.time });
    },
  },
});

// ---------------------------------------------------------------------------------------------
// (b) Commands end to end: place an order, then add items to it, 10 commands per order.

export const COMMANDS_PER_ORDER = 10;

export type OrderCommand =
  | { type: 'PlaceOrder'; orderId: string; customerId: string }
  | { type: 'AddItem'; orderId: string; sku: string; quantity: number; unitPrice: number };

export type OrderEvent =
  | DomainEvent<'OrderPlaced', { orderId: string; customerId: string }>
  | DomainEvent<
      'ItemAdded',
      {
        orderId: string;
        sku: string;
        quantity: number;
        unitPrice: number;
        itemCount: number;
        total: number;
      }
    >;

export interface OrderState {
  placed: boolean;
  customerId: string;
  itemCount: number;
  total: number;
}

/** Command `i` of a run: orders get their commands in turn, so streams stay 10 events long. */
export function command(i: number): OrderCommand {
  const orderId = `o-${Math.floor(i / COMMANDS_PER_ORDER)}`;
  if (i % COMMANDS_PER_ORDER === 0)
    return { type: 'PlaceOrder', orderId, customerId: `c-${i % CUSTOMERS}` };
  return { type: 'AddItem', orderId, sku: `SKU-${i % 977}`, quantity: 1 + (i % 3), unitPrice: 9.5 };
}

export function streamOf(orderId: string): string {
  return `order-${orderId}`;
}

/** Both sides fold and decide with this decider; only the plumbing around it differs. */
export const orderDecider: Decider<OrderState, OrderCommand, OrderEvent> = {
  initialState: () => ({ placed: false, customerId: '', itemCount: 0, total: 0 }),
  decide(command, state) {
    if (command.type === 'PlaceOrder') {
      if (state.placed) throw new DomainError('order.exists', `${command.orderId} exists`);
      return {
        type: 'OrderPlaced',
        data: { orderId: command.orderId, customerId: command.customerId },
      };
    }
    if (!state.placed) throw new DomainError('order.missing', `${command.orderId} is missing`);
    const total = Math.round((state.total + command.quantity * command.unitPrice) * 100) / 100;
    return {
      type: 'ItemAdded',
      data: {
        orderId: command.orderId,
        sku: command.sku,
        quantity: command.quantity,
        unitPrice: command.unitPrice,
        itemCount: state.itemCount + 1,
        total,
      },
    };
  },
  evolve(state, event) {
    if (event.type === 'OrderPlaced')
      return { ...state, placed: true, customerId: event.data.customerId };
    return { ...state, itemCount: event.data.itemCount, total: event.data.total };
  },
};

export interface SummaryRow extends Record<string, unknown> {
  id: string;
  customer_id: string;
  item_count: number;
  total: number;
  updated_at: Date;
}

export const summaryTable = defineTable<SummaryRow>({
  name: 'bench_order_summaries',
  primaryKey: 'id',
  columns: {
    id: 'text',
    customer_id: 'text',
    item_count: 'integer',
    total: 'real',
    updated_at: 'timestamp',
  },
});

/** The inline projection: one upsert per event, in the append's transaction. */
export const orderSummaries: ProjectionDefinition = defineProjection({
  name: 'bench-order-summaries',
  tables: [summaryTable],
  handlers: {
    OrderPlaced: async (event, session) => {
      const data = event.data as { orderId: string; customerId: string };
      await session.table(summaryTable).upsert({
        id: data.orderId,
        customer_id: data.customerId,
        item_count: 0,
        total: 0,
        updated_at: event.time,
      });
    },
    ItemAdded: async (event, session) => {
      const data = event.data as { orderId: string; itemCount: number; total: number };
      await session.table(summaryTable).patch(data.orderId, {
        item_count: data.itemCount,
        total: data.total,
        updated_at: event.time,
      });
    },
  },
});
