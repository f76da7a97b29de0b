/**
 * Reliable messaging in one file, on the in-memory transport (the same code runs on any
 * broker's driver): publish, consume with per-key order, retry a flaky handler, dead-letter a
 * poison message and replay it once fixed.
 *
 *   node --conditions=source --import tsx examples/messaging/main.ts
 */
import { pathToFileURL } from 'node:url';
// #region snippet
import {
  createTransport,
  DeadLetterManager,
  MemoryTransportDriver,
  PermanentError,
} from 'causeway';

export async function runMessagingExample(
  log: (line: string) => void = console.log,
): Promise<void> {
  const driver = new MemoryTransportDriver();
  const transport = createTransport(driver);
  const dlq = new DeadLetterManager(driver.deadLetterStore);
  const shipped: string[] = [];
  let labelPrinterFixed = false;
  let settled!: () => void;
  const allSettled = new Promise<void>((resolve) => (settled = resolve));
  let deadLettered!: () => void;
  const firstDeadLetter = new Promise<void>((resolve) => (deadLettered = resolve));

  await transport.subscribe(
    'orders',
    'shipping',
    async (message, { attempt }) => {
      const { orderId, express } = message.data as { orderId: string; express?: boolean };
      if (express && !labelPrinterFixed) throw new PermanentError('no label template for express');
      if (orderId === 'o-2' && attempt === 1) throw new Error('carrier API timed out'); // retried
      shipped.push(`${orderId}${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
      if (shipped.length === 3) settled();
    },
    {
      concurrency: 4,
      retry: { maxAttempts: 3, initialDelayMs: 20 },
      onDeadLetter: () => deadLettered(),
    },
  );

  // Same partition key → handled one at a time, in this order.
  await transport.publish('orders', [
    { type: 'OrderPaid', data: { orderId: 'o-1' }, partitionkey: 'customer-7' },
    { type: 'OrderPaid', data: { orderId: 'o-2' }, partitionkey: 'customer-8' },
    { type: 'OrderPaid', data: { orderId: 'o-3', express: true }, partitionkey: 'customer-7' },
  ]);
  await firstDeadLetter;
  const [letter] = await dlq.list();
  log(`dead-lettered: ${letter?.failure.reason} — ${letter?.failure.errorMessage}`);

  labelPrinterFixed = true;
  await dlq.retryAll({ destination: 'orders' }, ({ done, total }) =>
    log(`replayed ${done}/${total}`),
  );
  await allSettled;
  log(`shipped: ${shipped.join(', ')}`);
  await transport.close();
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runMessagingExample();
