/**
 * Revenue per product in 1-minute tumbling windows, from order events, run through the
 * topology test driver: each window's total is emitted once, when event time has moved
 * past its end plus 10 s of grace; an order arriving after that is dead-lettered as late.
 *
 *   node --conditions=source --import tsx examples/streams/revenue.ts
 */
import { pathToFileURL } from 'node:url';
// #region snippet
import { toMessage, TopologyBuilder, Windows, type Windowed } from 'causeway';
import { TopologyTestDriver } from 'causeway/testing';

interface OrderPlaced {
  orderId: string;
  productId: string;
  amount: number;
}

export function revenueTopology() {
  const builder = new TopologyBuilder({ name: 'revenue', deadLetters: 'revenue-late-orders' });
  builder
    .stream<OrderPlaced>('orders') // event time: each message's `time`
    .groupBy((order) => order.productId)
    .windowedBy(Windows.tumbling({ size: 60_000, grace: 10_000 })) // emits once, at close
    .aggregate(
      'revenue-per-minute',
      () => 0,
      (total, order) => total + order.amount,
    )
    .toStream()
    .to('revenue-per-minute');
  return builder.build();
}

export function runRevenueExample(log: (line: string) => void = console.log): void {
  const driver = new TopologyTestDriver(revenueTopology());
  const at = (time: string) => new Date(`2026-01-01T12:${time}Z`);
  const place = (time: string, orderId: string, productId: string, amount: number) =>
    driver.pipeMessage(
      'orders',
      toMessage({ type: 'OrderPlaced', time: at(time), data: { orderId, productId, amount } }),
    );

  place('00:05', 'o-1', 'espresso', 3);
  place('00:40', 'o-2', 'croissant', 2);
  place('00:59', 'o-3', 'espresso', 3);
  place('01:05', 'o-4', 'espresso', 4); // 12:00 is still open: 10 s of grace
  place('00:58', 'o-5', 'croissant', 2); // on time, within the grace period
  place('01:30', 'o-6', 'croissant', 2); // event time passes 12:01:10: 12:00 closes
  place('00:30', 'o-7', 'espresso', 3); // too late for 12:00: dead-lettered, not counted
  place('02:15', 'o-8', 'espresso', 3); // closes 12:01

  for (const { key, value } of driver.read<Windowed<string>, number>('revenue-per-minute')) {
    log(`${new Date(key.window.start).toISOString().slice(11, 16)} ${key.key}: ${value}`);
  }
  log(`late orders: ${driver.readDeadLetters().length} (metric: ${driver.metrics.lateRecords})`);
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runRevenueExample();
