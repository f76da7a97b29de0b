/**
 * A checkout saga in one file: reserve stock, charge the card, confirm the order. When the
 * card is declined the reservation is released; a flaky payment gateway is retried with the
 * same idempotency key, so the customer is charged once. Swap `MemorySagaStore` for a SQL
 * store and several processes can share the work and take over from one that crashed.
 *
 *   node --conditions=source --import tsx examples/sagas/main.ts
 */
import { pathToFileURL } from 'node:url';
import { Inventory, Payments } from './services.js';
// #region snippet
import { defineSaga, MemorySagaStore, PermanentError, SagaRuntime } from 'causeway';

interface Checkout {
  orderId: string;
  sku: string;
  quantity: number;
  amountCents: number;
  card: string;
  paymentId?: string;
}

export async function runSagaExample(log: (line: string) => void = console.log): Promise<void> {
  const inventory = new Inventory({ 'sku-mug': 5 });
  const payments = new Payments({ flakyCalls: 1 }); // the gateway fails once, then recovers

  const checkout = defineSaga<Checkout>({
    name: 'checkout',
    steps: [
      {
        name: 'reserve-stock',
        execute: ({ data, idempotencyKey }) =>
          inventory.reserve(data.sku, data.quantity, idempotencyKey),
        compensate: ({ data, idempotencyKey }) =>
          inventory.release(data.sku, data.quantity, idempotencyKey),
      },
      {
        name: 'charge-card',
        retry: { maxAttempts: 3, initialDelayMs: 10 },
        timeoutMs: 2_000,
        execute: async ({ data, idempotencyKey, signal }) => {
          const result = await payments.charge(
            data.orderId,
            data.card,
            data.amountCents,
            idempotencyKey,
            signal,
          );
          if (result.declined) throw new PermanentError(`card declined: ${result.reason}`);
          return { paymentId: result.paymentId }; // merged into the saga's data
        },
        // finds the order's charge itself: a timed-out charge may have happened unseen
        compensate: ({ data, idempotencyKey }) =>
          payments.refundOrder(data.orderId, idempotencyKey),
      },
      {
        name: 'confirm-order',
        execute: ({ data }) => log(`order ${data.orderId} confirmed (${data.paymentId})`),
      },
    ],
  });

  const runtime = new SagaRuntime({ store: new MemorySagaStore(), sagas: [checkout] });
  await runtime.start(); // resumes what a crashed process left running

  const paid = await runtime.run(
    checkout,
    { orderId: 'o-1', sku: 'sku-mug', quantity: 2, amountCents: 2400, card: '4242' },
    { id: 'checkout-o-1' }, // a business id: starting twice starts once
  );
  const declined = await runtime.run(
    checkout,
    { orderId: 'o-2', sku: 'sku-mug', quantity: 1, amountCents: 1200, card: '0002' },
    { id: 'checkout-o-2' },
  );
  for (const saga of [paid, declined]) {
    const attempts = saga.history.map((a) => `${a.kind} ${a.step} #${a.attempt} ${a.outcome}`);
    log(`${saga.id}: ${saga.status}${saga.error ? ` (${saga.error.message})` : ''}`);
    log(`  ${attempts.join(', ')}`);
  }
  log(`charges: ${payments.charges}, stock left: ${inventory.available('sku-mug')}`);
  await runtime.stop();
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runSagaExample();
