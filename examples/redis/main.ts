/**
 * Messaging on Redis Streams: a consumer group that charges payments, a retry that waits in
 * Redis (not in the process), a dead letter for a poison message, and an idempotency key per
 * message so a redelivery never charges twice. Needs a Redis 6.2+:
 *
 *   node --conditions=source --import tsx examples/redis/main.ts [redis-url]
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
// #region snippet
import { createTransport, DeadLetterManager, IdempotencyService, PermanentError } from 'causeway';
import { RedisIdempotencyStore, RedisTransportDriver } from 'causeway/redis';

export async function runRedisExample(
  { url, prefix }: { url: string; prefix: string },
  log: (line: string) => void = console.log,
): Promise<void> {
  const driver = await RedisTransportDriver.connect({ url, prefix });
  const transport = createTransport(driver);
  const keys = await RedisIdempotencyStore.connect({ url, prefix });
  const payments = new IdempotencyService(keys);
  const dlq = new DeadLetterManager(driver.deadLetterStore);
  const charged: string[] = [];
  let settled!: () => void;
  const allSettled = new Promise<void>((resolve) => (settled = resolve));
  let deadLettered!: () => void;
  const poisonParked = new Promise<void>((resolve) => (deadLettered = resolve));

  await transport.subscribe(
    'payments',
    'charger',
    async (message, { attempt }) => {
      const { orderId, amount } = message.data as { orderId: string; amount: number };
      if (amount <= 0) throw new PermanentError(`invalid amount ${amount}`);
      // Retried after a backoff: the message waits in Redis' delayed set meanwhile.
      if (orderId === 'o-2' && attempt === 1) throw new Error('gateway timed out');
      // A redelivered message (a consumer died before acking) is charged once.
      const receipt = await payments.process(
        `charge:${message.id}`,
        async () => `receipt-${orderId}`,
        { ttlMs: 24 * 3_600_000 },
      );
      charged.push(`${orderId} → ${receipt}${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
      if (charged.length === 2) settled();
    },
    { retry: { maxAttempts: 3, initialDelayMs: 50 }, onDeadLetter: () => deadLettered() },
  );

  await transport.publish('payments', [
    { type: 'PaymentRequested', data: { orderId: 'o-1', amount: 10 }, partitionkey: 'o-1' },
    { type: 'PaymentRequested', data: { orderId: 'o-2', amount: 25 }, partitionkey: 'o-2' },
    { type: 'PaymentRequested', data: { orderId: 'o-3', amount: -5 }, partitionkey: 'o-3' },
  ]);
  await Promise.all([allSettled, poisonParked]);
  log(`charged: ${charged.sort().join(', ')}`);
  const [letter] = await dlq.list({ destination: 'payments' });
  log(`dead-lettered: ${letter?.failure.reason} — ${letter?.failure.errorMessage}`);
  await transport.close();
  await keys.close();
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await runRedisExample({
    url: process.argv[2] ?? 'redis://127.0.0.1:6379',
    prefix: `example-${randomBytes(4).toString('hex')}`,
  });
