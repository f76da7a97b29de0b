import { describe, expect, it } from 'vitest';
import {
  isValidationError,
  outputMessageId,
  toMessage,
  TopologyBuilder,
  type StreamRecord,
} from 'causeway';
import { TopologyTestDriver } from 'causeway/testing';

interface Order {
  orderId: string;
  productId: string;
  amount: number;
}

const order = (orderId: string, productId: string, amount: number): Order => ({
  orderId,
  productId,
  amount,
});

function builder() {
  return new TopologyBuilder({ name: 'ops', deadLetters: 'ops-dead-letters' });
}

describe('stateless operators', () => {
  it('filter, map, selectKey and peek transform records in order, keeping timestamps and positions', () => {
    const seen: string[] = [];
    const b = builder();
    b.stream<Order>('orders')
      .filter((o) => o.amount > 10)
      .selectKey((o) => o.productId)
      .map((o, record) => `${record.key}:${o.amount}`)
      .peek((value) => seen.push(value))
      .to('out');
    const driver = new TopologyTestDriver(b.build());
    driver.pipe('orders', order('o1', 'p1', 5), { timestamp: 1_000 });
    driver.pipe('orders', order('o2', 'p2', 20), { timestamp: 2_000 });
    driver.pipe('orders', order('o3', 'p1', 30), { timestamp: 3_000 });
    const out = driver.read<string, string>('out');
    expect(out.map((r) => [r.key, r.value, r.timestamp, r.position])).toEqual([
      ['p2', 'p2:20', 2_000, 'orders:1'],
      ['p1', 'p1:30', 3_000, 'orders:2'],
    ]);
    expect(seen).toEqual(['p2:20', 'p1:30']);
    expect(driver.read('out')).toEqual([]);
  });

  it('flatMap gives each output its own position, so their ids differ', () => {
    const b = builder();
    b.stream<string>('lines')
      .flatMap((line) => line.split(' '))
      .to('words');
    const driver = new TopologyTestDriver(b.build());
    driver.pipe('lines', 'to be', { timestamp: 1 });
    driver.pipe('lines', '', { timestamp: 2 });
    const out = driver.read('words');
    expect(out.map((r) => [r.value, r.position])).toEqual([
      ['to', 'lines:0#0'],
      ['be', 'lines:0#1'],
      ['', 'lines:1#0'],
    ]);
    expect(new Set(out.map((r) => r.id)).size).toBe(3);
  });

  it('branch sends each record to the first matching branch only; merge interleaves two streams', () => {
    const b = builder();
    const { large, small } = b.stream<Order>('orders').branch({
      large: (o) => o.amount >= 100,
      small: (o) => o.amount >= 10,
    });
    large.to('large');
    small.to('small');
    large
      .merge(b.stream<Order>('refunds'))
      .map((o) => o.orderId)
      .to('audit');
    const driver = new TopologyTestDriver(b.build());
    driver.pipe('orders', order('o1', 'p', 150), { timestamp: 1 });
    driver.pipe('orders', order('o2', 'p', 50), { timestamp: 2 });
    driver.pipe('orders', order('o3', 'p', 1), { timestamp: 3 });
    driver.pipe('refunds', order('r1', 'p', 150), { timestamp: 4 });
    expect(driver.readValues<Order>('large').map((o) => o.orderId)).toEqual(['o1']);
    expect(driver.readValues<Order>('small').map((o) => o.orderId)).toEqual(['o2']);
    expect(driver.readValues('audit')).toEqual(['o1', 'r1']);
  });

  it('the default timestamp is the envelope time; an extractor may take it from the value', () => {
    const b = builder();
    b.stream<Order & { at: number }>('orders', { timestamp: (record) => record.value.at }).to(
      'by-value',
    );
    b.stream<Order>('messages').to('by-envelope');
    const driver = new TopologyTestDriver(b.build());
    driver.pipe('orders', { ...order('o1', 'p', 1), at: 42 }, { timestamp: 7 });
    driver.pipeMessage(
      'messages',
      toMessage({
        type: 'OrderPlaced',
        data: order('o2', 'p', 1),
        time: new Date(5_000),
        partitionkey: 'p',
      }),
    );
    expect(driver.read('by-value')[0]?.timestamp).toBe(42);
    const [fromMessage] = driver.read<string, Order>('by-envelope');
    expect([fromMessage?.key, fromMessage?.timestamp, fromMessage?.headers['ce-type']]).toEqual([
      'p',
      5_000,
      'OrderPlaced',
    ]);
  });
});

describe('aggregations without windows', () => {
  it('count, reduce and aggregate emit each key’s new value per record, from one store entry per key', () => {
    const b = builder();
    const byProduct = b.stream<Order>('orders').groupBy((o) => o.productId);
    byProduct.count('counts').toStream().to('counts');
    byProduct
      .reduce('largest', (a, c) => (c.amount > a.amount ? c : a))
      .toStream()
      .map((o) => o.orderId)
      .to('largest');
    byProduct
      .aggregate(
        'totals',
        () => ({ total: 0 }),
        (acc, o) => ({ total: acc.total + o.amount }),
      )
      .toStream()
      .to('totals');
    const driver = new TopologyTestDriver(b.build());
    driver.pipe('orders', order('o1', 'p1', 5), { timestamp: 1 });
    driver.pipe('orders', order('o2', 'p2', 7), { timestamp: 2 });
    driver.pipe('orders', order('o3', 'p1', 9), { timestamp: 3 });
    expect(driver.read('counts').map((r) => [r.key, r.value])).toEqual([
      ['p1', 1],
      ['p2', 1],
      ['p1', 2],
    ]);
    expect(driver.readValues('largest')).toEqual(['o1', 'o2', 'o3']);
    expect(driver.readValues('totals')).toEqual([{ total: 5 }, { total: 7 }, { total: 14 }]);
    expect(driver.store('counts')?.size).toBe(2);
  });
});

describe('topology validation and identity', () => {
  it('refuses a store name used twice and an unknown source, with ValidationError', () => {
    const b = builder();
    const grouped = b.stream<Order>('orders').groupByKey();
    grouped.count('shared');
    expect(() => grouped.count('shared')).toThrow(expect.objectContaining({ code: 'VALIDATION' }));
    expect(() => b.stream('')).toThrow(expect.objectContaining({ code: 'VALIDATION' }));
    const driver = new TopologyTestDriver(b.build());
    let error: unknown;
    try {
      driver.pipe('nope', 1);
    } catch (caught) {
      error = caught;
    }
    expect(isValidationError(error)).toBe(true);
    expect(() => b.stream('late-addition')).toThrow(
      expect.objectContaining({ code: 'VALIDATION' }),
    );
  });

  it('output ids are derived from topology, sink and position: stable across runs, distinct otherwise', () => {
    const run = () => {
      const b = builder();
      b.stream<number>('numbers')
        .map((n) => n * 2)
        .to('doubled');
      const driver = new TopologyTestDriver(b.build());
      for (let i = 0; i < 3; i++) driver.pipe('numbers', i, { timestamp: i });
      return driver.read('doubled').map((r) => r.id);
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(new Set(first).size).toBe(3);
    expect(first[0]).toBe(outputMessageId('ops', 'doubled', 'numbers:0'));
    expect(first[0]).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(outputMessageId('ops', 'other', 'numbers:0')).not.toBe(first[0]);
  });

  it('each pipe commits its output and the source position in one unit', () => {
    const b = builder();
    b.stream<number>('numbers').to('copy');
    const driver = new TopologyTestDriver(b.build());
    const record: StreamRecord = driver.pipe('numbers', 1, { timestamp: 1 });
    driver.pipe('numbers', 2, { timestamp: 2 });
    expect(driver.backend.committedPositions().get('numbers')).toBe('numbers:1');
    expect(driver.backend.committedOutputs.map((r) => r.position)).toEqual([
      record.position,
      'numbers:1',
    ]);
  });
});
