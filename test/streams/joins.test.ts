import { describe, expect, it } from 'vitest';
import { JoinWindows, TopologyBuilder } from 'causeway';
import { TopologyTestDriver } from 'causeway/testing';

type Kind = 'join' | 'leftJoin' | 'outerJoin';

/** Orders joined with payments of the same order id, at most 10 s apart (grace 0 unless given). */
function ordersWithPayments(kind: Kind, grace = 0) {
  const b = new TopologyBuilder({ name: 'payments', deadLetters: 'late' });
  const orders = b.stream<string, string>('orders');
  const payments = b.stream<string, string>('payments');
  const options = {
    store: 'order-payment-join',
    window: JoinWindows.of(10_000, { grace }),
    joiner: (order: string | undefined, payment: string | undefined) =>
      `${order ?? '-'}+${payment ?? '-'}`,
  };
  orders[kind](payments, options).to('joined');
  return new TopologyTestDriver(b.build());
}

const order = (d: TopologyTestDriver, key: string, value: string, timestamp: number) =>
  d.pipe('orders', value, { key, timestamp });
const payment = (d: TopologyTestDriver, key: string, value: string, timestamp: number) =>
  d.pipe('payments', value, { key, timestamp });

describe('stream–stream joins', () => {
  it('inner: matches records with the same key within the window, from either side, once per pair', () => {
    const d = ordersWithPayments('join');
    order(d, 'o1', 'O1', 1_000);
    payment(d, 'o2', 'P2', 2_000); // other key
    payment(d, 'o1', 'P1', 5_000); // 4 s after O1
    payment(d, 'o1', 'P1b', 11_000); // 10 s after O1: still inside
    order(d, 'o1', 'O1b', 12_000); // matches P1 (7 s) and P1b (1 s)
    const out = d.read<string, string>('joined');
    expect(out.map((r) => [r.key, r.value, r.timestamp])).toEqual([
      ['o1', 'O1+P1', 5_000],
      ['o1', 'O1+P1b', 11_000],
      ['o1', 'O1b+P1', 12_000],
      ['o1', 'O1b+P1b', 12_000],
    ]);
    expect(out[0]?.position).toBe('orders:0+payments:1'); // payments:0 was P2
  });

  it('inner: records further apart than the window do not match', () => {
    const d = ordersWithPayments('join', 60_000);
    order(d, 'o1', 'O1', 0);
    payment(d, 'o1', 'P1', 10_001);
    order(d, 'o1', 'O2', 30_000);
    expect(d.read('joined')).toEqual([]);
  });

  it('left: emits an unmatched left record once, when its window closes, not before', () => {
    const d = ordersWithPayments('leftJoin');
    order(d, 'o1', 'O1', 0);
    order(d, 'o2', 'O2', 1_000);
    payment(d, 'o2', 'P2', 3_000);
    expect(d.readValues('joined')).toEqual(['O2+P2']); // O1 may still be paid
    payment(d, 'o9', 'P9', 10_000); // O1's window [−10, 10] is still open at 10
    expect(d.readValues('joined')).toEqual([]);
    payment(d, 'o9', 'P9b', 10_001); // watermark passes 10: O1 can no longer match
    expect(d.readValues('joined')).toEqual(['O1+-']);
    payment(d, 'o9', 'P9c', 60_000);
    expect(d.readValues('joined')).toEqual([]); // O2 was matched; unmatched payments are dropped
  });

  it('outer: also emits unmatched right records when their window closes', () => {
    const d = ordersWithPayments('outerJoin');
    order(d, 'o1', 'O1', 0);
    payment(d, 'o2', 'P2', 1_000);
    order(d, 'o3', 'O3', 5_000);
    payment(d, 'o3', 'P3', 6_000);
    order(d, 'o4', 'O4', 20_000);
    expect(d.readValues('joined')).toEqual(['O3+P3', 'O1+-', '-+P2']);
  });

  it('late records go to the dead-letter sink; buffered records leave the store once their window closes', () => {
    const d = ordersWithPayments('leftJoin', 5_000);
    for (let i = 0; i < 100; i++) order(d, `o${i}`, `O${i}`, i * 1_000);
    // Stream time 99 s, watermark 94 s: records older than that are late.
    payment(d, 'o50', 'P50', 50_000);
    expect(
      d.readDeadLetters().map((r) => [r.position, r.headers['causeway-dead-letter-reason']]),
    ).toEqual([['order-payment-join/payments:0', 'late']]);
    expect(d.metrics.lateByOperator).toEqual({ 'order-payment-join': 1 });
    // Only orders within reach of a payment on time are held: t + 10 s ≥ 94 s.
    expect(d.store('order-payment-join')?.size).toBe(16);
    expect(d.readValues('joined')).toHaveLength(84);
  });
});

describe('stream–table joins', () => {
  it('look up the latest table value per key; inner drops and left keeps records without a row', () => {
    const b = new TopologyBuilder({ name: 'enrich', deadLetters: 'late' });
    const prices = b.table<number, string>('prices', 'price-by-product');
    const orders = b.stream<number, string>('orders');
    orders.joinTable(prices, (quantity, price) => quantity * price).to('totals');
    orders
      .leftJoinTable(prices, (quantity, price) => (price === undefined ? null : quantity * price))
      .to('maybe');
    const d = new TopologyTestDriver(b.build());
    d.pipe('orders', 2, { key: 'p1', timestamp: 1 });
    d.pipe('prices', 10, { key: 'p1', timestamp: 2 });
    d.pipe('orders', 3, { key: 'p1', timestamp: 3 });
    d.pipe('prices', 20, { key: 'p1', timestamp: 4 });
    d.pipe('orders', 1, { key: 'p1', timestamp: 5 });
    expect(d.readValues('totals')).toEqual([30, 20]);
    expect(d.readValues('maybe')).toEqual([null, 30, 20]);
    expect(d.store('price-by-product')?.size).toBe(1);
  });
});
