/**
 * Recovery on Redis: a consumer process killed with -9, a retry waiting while its consumers
 * restart, and Redis itself restarting empty (a server of the test's own, so the shared one is
 * left alone).
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport, isStoreUnavailableError } from 'causeway';
import { RedisTransportDriver } from 'causeway/redis';
import { distinct } from './fixtures/collector.js';
import { killHolderAndRecover, spawnConsumerProcess } from './fixtures/consumer-process.js';
import { deliveryInbox } from './fixtures/deliveries.js';
import { ownRedisServer } from './fixtures/redis-server.js';
import { redisTestOptions, redisUrl } from './fixtures/redis-transport-harness.js';

const prefix = `cw-test-${randomBytes(4).toString('hex')}`;
const destinations: string[] = [];
let counter = 0;

function freshDestination(): string {
  const destination = `r${++counter}`;
  destinations.push(destination);
  return destination;
}

describe('Redis Streams transport: recovery', () => {
  afterAll(async () => {
    const driver = await RedisTransportDriver.connect(redisTestOptions(prefix));
    for (const destination of destinations.splice(0)) await driver.deleteDestination(destination);
    await driver.close();
  });

  it('claims what a killed consumer process held (kill -9 before acking), counting the attempt', async () => {
    const destination = freshDestination();
    const claimMinIdleMs = 1_000;
    const child = spawnConsumerProcess('redis-consumer-process.ts', [
      prefix,
      destination,
      'crashy',
      String(claimMinIdleMs),
    ]);
    const driver = await RedisTransportDriver.connect(
      redisTestOptions(prefix, { claimMinIdleMs, claimIntervalMs: 100 }),
    );
    const transport = createTransport(driver);
    try {
      const { ids, held, received, killedAt } = await killHolderAndRecover(
        child,
        transport,
        destination,
        'crashy',
      );
      expect([...received.keys()].sort()).toEqual([...ids].sort());
      // The PEL counted the killed delivery: the claim is the second attempt.
      for (const id of held) expect(received.get(id)).toBe(2);
      // Claimed only once idle for claimMinIdleMs, not before.
      expect(performance.now() - killedAt).toBeGreaterThanOrEqual(claimMinIdleMs - 300);
    } finally {
      child.kill('SIGKILL');
      await transport.close();
    }
  });

  it('keeps a delayed retry in Redis while its consumers restart, then delivers it as the next attempt', async () => {
    const destination = freshDestination();
    const first = await RedisTransportDriver.connect(redisTestOptions(prefix));
    const deliveries = deliveryInbox();
    await first.consume(destination, 'billing', { prefetch: 1 }, deliveries.push);
    const [id] = await createTransport(first).publish(destination, [
      { type: 'Charge', data: { n: 1 } },
    ]);
    const failedAt = new Date();
    await (await deliveries.next()).retry(1_500, { at: failedAt, error: 'gateway down' });
    const scheduledAt = performance.now();
    await first.close();
    // No consumer runs: the retry waits in the group's delayed set, nowhere else.
    const admin = await createClient({ url: redisUrl }).connect();
    expect(await admin.zCard(`${prefix}:{${destination}}:delayed:billing`)).toBe(1);
    await admin.close();

    const second = createTransport(await RedisTransportDriver.connect(redisTestOptions(prefix)));
    try {
      const attempts: { id: string; attempt: number }[] = [];
      let handled!: () => void;
      const done = new Promise<void>((resolve) => (handled = resolve));
      await second.subscribe(destination, 'billing', (m, { attempt }) => {
        attempts.push({ id: m.id, attempt });
        handled();
      });
      await done;
      expect(attempts).toEqual([{ id, attempt: 2 }]);
      // It waited out its delay in the delayed set, with no consumer running for part of it.
      expect(performance.now() - scheduledAt).toBeGreaterThanOrEqual(1_400);
    } finally {
      await second.close();
    }
  });

  // The contract's restart case covers a Redis that keeps its data (AOF); this one starts empty.
  it('reconnects after Redis restarts empty, creating its groups again', async () => {
    const server = await ownRedisServer(false);
    const errors: unknown[] = [];
    const driver = await RedisTransportDriver.connect({
      url: server.url,
      blockMs: 500,
      onError: (e) => errors.push(e),
    });
    const transport = createTransport(driver);
    try {
      const after = distinct<number>(10);
      await transport.subscribe(
        'jobs',
        'workers',
        (m) => {
          const { n } = m.data as { n: number };
          if (n >= 1_000) after.add(n);
        },
        { onSettleError: (e) => errors.push(e) },
      );
      await transport.publish(
        'jobs',
        Array.from({ length: 50 }, (_, n) => ({ type: 'Job', data: { n } })),
      );
      await server.kill();
      const failure = await transport
        .publish('jobs', [{ type: 'Job', data: { n: -1 } }])
        .catch((e: unknown) => e);
      expect(isStoreUnavailableError(failure)).toBe(true);
      await server.start();
      // Publishing works again once the driver's connection is back.
      for (let tries = 0; ; tries++) {
        const retried = await transport
          .publish(
            'jobs',
            Array.from({ length: 10 }, (_, n) => ({ type: 'Job', data: { n: 1_000 + n } })),
          )
          .then(() => true)
          .catch((e: unknown) => {
            if (!isStoreUnavailableError(e) || tries > 200) throw e;
            return false;
          });
        if (retried) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await after.complete;
      expect(after.seen.size).toBe(10);
      // The restart took the groups with it; the consumer found out and created them again.
      expect(errors.map(String).some((e) => e.includes('NOGROUP'))).toBe(true);
    } finally {
      await transport.close();
      await server.dispose();
    }
  });
});
