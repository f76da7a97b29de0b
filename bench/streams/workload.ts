import type { StreamRecord } from 'causeway';

/**
 * The inputs both contestants of the `streams` suite process: generated once, before any
 * timing, as the `StreamRecord`s a source would hand the runtime (key, value, event time,
 * position). The hand-written loops read the same objects, so neither side pays for
 * building its input and both see exactly the same order and disorder.
 */

/** Revenue per product per 1-minute tumbling window; 10 s of grace. */
export const AGGREGATION = { products: 1_000, windowMs: 60_000, graceMs: 10_000 } as const;

/** Orders left-joined with payments within 30 s; 5 s of grace. */
export const JOIN = { windowMs: 30_000, graceMs: 5_000 } as const;

export interface Order {
  orderId: string;
  productId: string;
  amount: number;
}

export interface Payment {
  orderId: string;
  amount: number;
}

/** A deterministic generator (mulberry32): every run, and both contestants, see the same input. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const T0 = Date.UTC(2026, 0, 1);

/**
 * Items in arrival order: by `timeOf` (when each would arrive without disorder, in ms) plus up to `jitterMs`,
 * so records arrive out of event-time order by up to the jitter.
 */
function arrivalOrder<T>(
  items: T[],
  timeOf: (item: T, index: number) => number,
  jitterMs: number,
  next: () => number,
): T[] {
  return items
    .map((item, index) => ({ item, arrives: timeOf(item, index) + next() * jitterMs }))
    .sort((a, b) => a.arrives - b.arrives)
    .map(({ item }) => item);
}

export interface AggregationInput {
  records: StreamRecord<null, Order>[];
  /** Records generated 30 s behind their neighbours: past the grace, so dead-lettered. */
  lateRecords: number;
}

/**
 * `count` orders, 1 000 a second of event time over 1 000 products, arriving up to 3 s out of
 * order (within the grace) and 1 in 2 000 another 30 s behind (after it: late).
 */
export function aggregationInput(count: number): AggregationInput {
  const next = random(7);
  const products = Array.from(
    { length: AGGREGATION.products },
    (_, i) => `product-${String(i).padStart(4, '0')}`,
  );
  let lateRecords = 0;
  const records: StreamRecord<null, Order>[] = [];
  for (let i = 0; i < count; i++) {
    const late = next() < 0.0005;
    if (late) lateRecords++;
    records.push({
      key: null,
      value: {
        orderId: `order-${i}`,
        productId: products[Math.floor(next() * products.length)] as string,
        amount: 1 + Math.floor(next() * 100),
      },
      // A late record arrives among its neighbours but carries an event time 30 s older.
      timestamp: T0 + i - (late ? 30_000 : 0),
      position: '',
      headers: NO_HEADERS,
    });
  }
  // Generated in event-time order, so the index is when each would arrive without disorder.
  const ordered = arrivalOrder(records, (_, index) => index, 3_000, next);
  ordered.forEach((record, index) => (record.position = `orders:${index}`));
  return { records: ordered, lateRecords };
}

export interface JoinInput {
  /** `sources[i]` names the input `records[i]` came from: `orders` or `payments`. */
  sources: ('orders' | 'payments')[];
  records: StreamRecord<string, Order | Payment>[];
}

/**
 * `count` records, half orders (one every 2 ms of event time) and half their payments, keyed
 * by order id. A payment follows its order by 1–36 s, so about 1 in 7 falls outside the 30 s
 * window (the order is listed unpaid, the payment matches nothing). Arrival is up to 2 s out
 * of order, within the grace.
 */
export function joinInput(count: number): JoinInput {
  const next = random(11);
  const orders = Math.floor(count / 2);
  const items: { source: 'orders' | 'payments'; record: StreamRecord<string, Order | Payment> }[] =
    [];
  for (let i = 0; i < orders; i++) {
    const orderId = `order-${i}`;
    const amount = 1 + Math.floor(next() * 100);
    const placed = T0 + i * 2;
    items.push({
      source: 'orders',
      record: {
        key: orderId,
        value: { orderId, productId: 'product-0001', amount },
        timestamp: placed,
        position: '',
        headers: NO_HEADERS,
      },
    });
    items.push({
      source: 'payments',
      record: {
        key: orderId,
        value: { orderId, amount },
        timestamp: placed + 1_000 + Math.floor(next() * 35_000),
        position: '',
        headers: NO_HEADERS,
      },
    });
  }
  const ordered = arrivalOrder(items, (item) => item.record.timestamp, 2_000, next);
  const counters = { orders: 0, payments: 0 };
  for (const { source, record } of ordered) record.position = `${source}:${counters[source]++}`;
  return { sources: ordered.map((item) => item.source), records: ordered.map((i) => i.record) };
}

/** What a run produced, compared across contestants so a faster loop cannot be a wrong one. */
export interface Outcome {
  /** Results emitted (closed windows, or joined and unmatched orders). */
  outputs: number;
  /** A sum over the results' values (revenue, or paid amounts minus unpaid ones). */
  checksum: number;
  /** Records dead-lettered as late. */
  late: number;
}

/** The aggregation's fold, shared by both contestants. */
export const addRevenue = (total: number, order: Order): number => total + order.amount;

/** A left join's result: the order, and whether a payment matched it. */
export interface PaidOrder {
  orderId: string;
  amount: number;
  paid: boolean;
}

/** The join's joiner, shared by both contestants (`payment` is undefined for an unpaid order). */
export const paidOrder = (order: Order, payment: Payment | undefined): PaidOrder => ({
  orderId: order.orderId,
  amount: order.amount,
  paid: payment !== undefined,
});

/** How a result counts into `Outcome.checksum`. */
export const paidChecksum = (result: PaidOrder): number =>
  result.paid ? result.amount : -result.amount;
