import { expect, it } from 'vitest';
import { TopologyTestDriver } from 'causeway/testing';
import { paymentsTopology, runPaymentsExample } from '../../examples/streams/payments.js';

it('the payments example emits paid orders as their payment arrives and lists the unpaid one once its window closed', () => {
  const lines: string[] = [];
  runPaymentsExample((line) => lines.push(line));
  expect(lines).toEqual([
    'paid:   o-1 (ada) 30 of 30',
    'paid:   o-3 (linus) 8 of 8',
    'unpaid: o-2 (grace) 12',
  ]);
});

it('an order is not listed unpaid while its payment may still come (30 s plus 5 s of grace)', () => {
  const driver = new TopologyTestDriver(paymentsTopology());
  const order = { orderId: 'o-1', customer: 'ada', total: 30 };
  driver.pipe('orders', order, { key: 'o-1', timestamp: 0 });
  driver.pipe('orders', { ...order, orderId: 'o-2' }, { key: 'o-2', timestamp: 35_000 });
  // o-1 can match payments up to 30 s; the watermark (35 s − 5 s grace) has not passed it
  expect(driver.readValues('unpaid-orders')).toEqual([]);
  driver.pipe('payments', { orderId: 'o-1', amount: 30 }, { key: 'o-1', timestamp: 30_000 });
  expect(driver.readValues('paid-orders')).toEqual([{ ...order, paid: 30 }]);
  driver.pipe('orders', { ...order, orderId: 'o-3' }, { key: 'o-3', timestamp: 70_000 });
  expect(driver.readValues('unpaid-orders')).toEqual([]); // o-2 reaches 65 s = the watermark
  driver.pipe('orders', { ...order, orderId: 'o-4' }, { key: 'o-4', timestamp: 70_001 });
  expect(driver.readValues('unpaid-orders')).toEqual([
    { ...order, orderId: 'o-2', paid: undefined },
  ]);
});
