import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport, PermanentError, type Message } from 'causeway';
import { RabbitMqTransportDriver } from 'causeway/rabbitmq';
import {
  adminConnection,
  amqpUrl,
  closeAdminConnection,
  deleteTopology,
} from './fixtures/rabbitmq-transport-harness.js';

// A prefix of its own: this file deletes the prefix's shared dead-letter queue.
const prefix = `cw-test-del-${randomBytes(4).toString('hex')}`;
const drivers: RabbitMqTransportDriver[] = [];

async function newDriver(): Promise<RabbitMqTransportDriver> {
  const driver = await RabbitMqTransportDriver.connect({ url: amqpUrl, prefix });
  drivers.push(driver);
  return driver;
}

/** Whether the broker has the queue (or exchange): a passive declare fails with 404 if not. */
async function exists(kind: 'queue' | 'exchange', name: string): Promise<boolean> {
  const channel = await (await adminConnection()).createChannel();
  channel.on('error', () => undefined);
  try {
    await (kind === 'queue' ? channel.checkQueue(name) : channel.checkExchange(name));
    await channel.close();
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return false;
    throw error;
  }
}

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await deleteTopology(drivers);
  await closeAdminConnection();
});

describe('RabbitMQ deleteDestination', () => {
  it('deletes the exchange, every group queue, its retry buckets and dead letters; the destination works again afterwards', async () => {
    const driver = await newDriver();
    const other = await newDriver(); // another process's group: this driver never saw it
    const transport = createTransport(driver);
    const destination = 'orders';
    const kept = 'payments';

    // Group `a` retries once (declares a retry bucket) and dead-letters `poison`.
    let retried!: () => void;
    const retriedOnce = new Promise<void>((resolve) => (retried = resolve));
    const a = await transport.subscribe(
      destination,
      'a',
      (message: Message, { attempt }) => {
        if (message.type === 'Poison') throw new PermanentError('poison');
        if (attempt === 1) throw new Error('transient');
        retried();
      },
      { retry: { initialDelayMs: 50, maxDelayMs: 50 } },
    );
    const b = await createTransport(other).subscribe(destination, 'b', () => undefined);
    const keeper = await transport.subscribe(kept, 'k', () => {
      throw new PermanentError('kept letter');
    });
    await transport.publish(destination, [{ type: 'Work', data: {} }]);
    await transport.publish(destination, [{ type: 'Poison', data: {} }]);
    await transport.publish(kept, [{ type: 'Work', data: {} }]);
    await retriedOnce;
    await until(async () => (await driver.deadLetterStore.count()) === 2);
    await Promise.all([a.stop(), b.stop(), keeper.stop()]);

    const declared = driver.topology();
    const retryBuckets = declared.queues.filter((q) => q.includes('.retry.'));
    expect(retryBuckets).toHaveLength(1);
    const names = {
      exchange: driver.names.exchange(destination),
      queues: [
        driver.names.queue(destination, 'a'),
        driver.names.queue(destination, 'b'),
        ...retryBuckets,
      ],
    };
    for (const queue of names.queues) expect(await exists('queue', queue)).toBe(true);
    expect(await exists('exchange', names.exchange)).toBe(true);

    await driver.deleteDestination(destination, ['b']);

    for (const queue of names.queues) expect(await exists('queue', queue)).toBe(false);
    expect(await exists('exchange', names.exchange)).toBe(false);
    expect(driver.topology().queues).not.toContain(names.queues[0]);
    // Only this destination's letter left the shared queue; the other destination is intact.
    expect(await driver.deadLetterStore.count({ destination })).toBe(0);
    expect(await driver.deadLetterStore.count({ destination: kept })).toBe(1);
    expect(await exists('queue', driver.names.queue(kept, 'k'))).toBe(true);
    // Idempotent: nothing left to delete is not an error.
    await driver.deleteDestination(destination, ['b']);

    // The same driver declares it again on next use.
    let got!: (type: string) => void;
    const received = new Promise<string>((resolve) => (got = resolve));
    const again = await transport.subscribe(destination, 'a', (m: Message) => got(m.type));
    await transport.publish(destination, [{ type: 'Again', data: {} }]);
    expect(await received).toBe('Again');
    await again.stop();

    await driver.deleteDestination(destination);
    await driver.deleteDestination(kept);
    await driver.deleteDeadLetterQueue();
    expect(await exists('queue', driver.names.deadLetterQueue())).toBe(false);
    expect(await exists('exchange', driver.names.deadLetterExchange())).toBe(false);
    expect(await exists('queue', driver.names.queue(destination, 'a'))).toBe(false);
    await driver.deleteDeadLetterQueue();
    // Deleting with the shared queue gone does not declare it again.
    await driver.deleteDestination(kept);
    expect(await exists('queue', driver.names.deadLetterQueue())).toBe(false);
    await transport.close();
  });
});

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
