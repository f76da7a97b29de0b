import { expect, it } from 'vitest';
import {
  isCausewayError,
  JoinWindows,
  MemoryStateBackend,
  MemoryStreamSink,
  MemoryStreamSource,
  StreamRuntime,
  StreamTask,
  TopologyBuilder,
} from 'causeway';

function joinTopology() {
  const b = new TopologyBuilder({ name: 'task', deadLetters: 'late' });
  b.stream<string, string>('orders')
    .join(b.stream<string, string>('payments'), {
      store: 'order-payments',
      window: JoinWindows.of(1_000),
      joiner: (order, payment) => `${order}+${payment}`,
    })
    .to('paid');
  return b.build();
}

it('a task interleaves sources by event time, commits positions with outputs, and resumes after them', async () => {
  const orders = new MemoryStreamSource<string, string>('orders');
  const payments = new MemoryStreamSource<string, string>('payments');
  const paid = new MemoryStreamSink('paid');
  const late = new MemoryStreamSink('late');
  const backend = new MemoryStateBackend();
  const runtime = new StreamRuntime(joinTopology(), { backend });
  const task = new StreamTask({
    runtime,
    sources: [orders, payments],
    sinks: [paid, late],
    commitEvery: 2,
  });

  // Pushed out of time order across sources: the task reads by event time, so nothing is late.
  payments.push('o1', 'P1', 1_500);
  payments.push('o2', 'P2', 5_000);
  orders.push('o1', 'O1', 1_000);
  orders.push('o2', 'O2', 4_500);
  expect(await task.runToEnd()).toBe(4);
  expect(paid.records.map((r) => r.value)).toEqual(['O1+P1', 'O2+P2']);
  expect(late.records).toEqual([]);
  expect([...backend.committedPositions()]).toEqual([
    ['orders', 'orders:1'],
    ['payments', 'payments:1'],
  ]);

  orders.push('o3', 'O3', 6_000);
  payments.push('o3', 'P3', 6_200);
  expect(await task.runToEnd()).toBe(2);
  expect(paid.records.map((r) => r.value)).toEqual(['O1+P1', 'O2+P2', 'O3+P3']);
  expect(await task.runToEnd()).toBe(0);
});

it('an operator that throws stops the runtime with OperatorFailedError naming the record', () => {
  const b = new TopologyBuilder({ name: 'failing', deadLetters: 'late' });
  b.stream<number>('numbers')
    .map((n) => {
      if (n === 2) throw new Error('boom');
      return n;
    })
    .to('out');
  const runtime = new StreamRuntime(b.build());
  runtime.process('numbers', {
    key: null,
    value: 1,
    timestamp: 1,
    position: 'numbers:0',
    headers: {},
  });
  const failing = { key: null, value: 2, timestamp: 2, position: 'numbers:1', headers: {} };
  let error: unknown;
  try {
    runtime.process('numbers', failing);
  } catch (caught) {
    error = caught;
  }
  expect(isCausewayError(error) && error.code).toBe('HANDLER_FAILED');
  expect(error).toMatchObject({ source: 'numbers', position: 'numbers:1' });
  expect((error as Error).cause).toEqual(new Error('boom'));
  // Its state may hold part of the failed record: no more records, no commit.
  expect(() => runtime.process('numbers', { ...failing, value: 3, position: 'numbers:2' })).toThrow(
    /numbers:1/,
  );
  expect(() => runtime.commit()).toThrow(/numbers:1/);
});

it('refuses sources and sinks the topology does not name', () => {
  const runtime = new StreamRuntime(joinTopology());
  expect(() => new StreamTask({ runtime, sources: [new MemoryStreamSource('refunds')] })).toThrow(
    expect.objectContaining({ code: 'VALIDATION' }),
  );
  expect(
    () => new StreamTask({ runtime, sources: [], sinks: [new MemoryStreamSink('nope')] }),
  ).toThrow(expect.objectContaining({ code: 'VALIDATION' }));
});
