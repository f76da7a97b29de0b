/**
 * Orders joined with their payments within 30 seconds, on event time. A paid order is emitted
 * as soon as its payment arrives; an order with no payment in its 30 s is listed as unpaid by
 * the left join — once, when event time has moved past its window plus 5 s of grace, never
 * before (a payment could still come). Run through the topology test driver:
 *
 *   node --conditions=source --import tsx examples/streams/payments.ts
 */
import { pathToFileURL } from 'node:url';
// #region snippet
import { JoinWindows, toMessage, TopologyBuilder } from 'causeway';
import { TopologyTestDriver } from 'causeway/testing';

interface OrderPlaced {
  orderId: string;
  customer: string;
  total: number;
}

interface PaymentReceived {
  orderId: string;
  amount: number;
}

export interface CheckedOrder {
  orderId: string;
  customer: string;
  total: number;
  /** What the matched payment paid, `undefined` for an unpaid order. */
  paid: number | undefined;
}

export function paymentsTopology() {
  const builder = new TopologyBuilder({ name: 'order-payments', deadLetters: 'late-payments' });
  // Both streams are keyed by order id: each message's `partitionkey`.
  const orders = builder.stream<OrderPlaced, string>('orders');
  const payments = builder.stream<PaymentReceived, string>('payments');
  const checked = orders.leftJoin(payments, {
    store: 'orders-awaiting-payment',
    // A payment matches an order placed at most 30 s before it.
    window: JoinWindows.between({ before: 0, after: 30_000, grace: 5_000 }),
    joiner: (order, payment): CheckedOrder => ({ ...order, paid: payment?.amount }),
  });
  const { paid, unpaid } = checked.branch({
    paid: (order) => order.paid !== undefined,
    unpaid: () => true,
  });
  paid.to('paid-orders');
  unpaid.to('unpaid-orders');
  return builder.build();
}

export function runPaymentsExample(log: (line: string) => void = console.log): void {
  const driver = new TopologyTestDriver(paymentsTopology());
  const at = (time: string) => new Date(`2026-01-01T12:${time}Z`);
  const order = (time: string, orderId: string, customer: string, total: number) =>
    driver.pipeMessage(
      'orders',
      toMessage({
        type: 'OrderPlaced',
        time: at(time),
        partitionkey: orderId,
        data: { orderId, customer, total },
      }),
    );
  const payment = (time: string, orderId: string, amount: number) =>
    driver.pipeMessage(
      'payments',
      toMessage({
        type: 'PaymentReceived',
        time: at(time),
        partitionkey: orderId,
        data: { orderId, amount },
      }),
    );

  order('00:00', 'o-1', 'ada', 30);
  order('00:05', 'o-2', 'grace', 12);
  payment('00:20', 'o-1', 30); // 20 s after o-1: paid, emitted now
  order('00:25', 'o-3', 'linus', 8);
  payment('00:40', 'o-3', 8); // 15 s after o-3: paid
  payment('00:50', 'o-2', 12); // 45 s after o-2: too late to be its payment
  order('01:20', 'o-4', 'ada', 5); // event time 12:01:20 is past o-2's 30 s + 5 s: unpaid
  // o-4 has until 12:01:50 (plus grace) to be paid: not listed either way yet.

  for (const { value } of driver.read<string, CheckedOrder>('paid-orders')) {
    log(`paid:   ${value.orderId} (${value.customer}) ${value.paid} of ${value.total}`);
  }
  for (const { value } of driver.read<string, CheckedOrder>('unpaid-orders')) {
    log(`unpaid: ${value.orderId} (${value.customer}) ${value.total}`);
  }
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runPaymentsExample();
