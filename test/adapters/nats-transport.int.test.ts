import { randomBytes } from 'node:crypto';
import { HTTP } from 'cloudevents';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport, DeadLetterManager, isCausewayError, type Message } from 'causeway';
import { NatsTopologyError, NatsTransportDriver, type NatsTransportOptions } from 'causeway/nats';
import { transportContract } from '../contracts/transport.contract.js';
import { deadLetterManagerCase } from './fixtures/dead-letter-manager-case.js';
import { deliveryInbox } from './fixtures/deliveries.js';
import {
  createHarness,
  deleteDestinations,
  natsServers,
} from './fixtures/nats-transport-harness.js';

const run = randomBytes(4).toString('hex');
const destinations: string[] = [];
let counter = 0;

function freshDestination(): string {
  const destination = `cw-test-${run}.d${++counter}`;
  destinations.push(destination);
  return destination;
}

// Short pulls so `stop()` returns quickly; the rest are the production defaults.
const settings: NatsTransportOptions = { servers: natsServers, pullExpiresMs: 1_000 };
const deleteOurs = () => deleteDestinations(destinations.splice(0));

transportContract(createHarness());

describe('NATS JetStream transport', () => {
  afterAll(deleteOurs);

  it('surfaces a stream that exists with another configuration as a typed error', async () => {
    const destination = freshDestination();
    const first = await NatsTransportDriver.connect(settings);
    const second = await NatsTransportDriver.connect({
      ...settings,
      stream: { max_msgs: 10 },
    });
    try {
      await first.publish(destination, []);
      await first.publishRaw(destination, [{ headers: {}, body: '1' }]);
      const failure = await second
        .publishRaw(destination, [{ headers: {}, body: '2' }])
        .catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(NatsTopologyError);
      expect(isCausewayError(failure) && failure.code).toBe('TRANSPORT_SETUP');
      expect((failure as Error).message).toContain('different configuration');
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('refuses a group whose durable consumer exists with other settings, instead of changing it', async () => {
    const destination = freshDestination();
    const first = await NatsTransportDriver.connect(settings);
    const second = await NatsTransportDriver.connect({ ...settings, ackWaitMs: 5_000 });
    try {
      const handle = await first.consume(destination, 'billing.eu', { prefetch: 1 }, () => {});
      await handle.stop();
      const failure = await second
        .consume(destination, 'billing.eu', { prefetch: 1 }, () => {})
        .catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(NatsTopologyError);
      expect((failure as Error).message).toContain('ack_wait');
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('carries the first failure time across redeliveries and does not count released deliveries', async () => {
    const destination = freshDestination();
    const driver = await NatsTransportDriver.connect(settings);
    const transport = createTransport(driver);
    try {
      const deliveries = deliveryInbox();
      const handle = await driver.consume(destination, 'g', { prefetch: 1 }, deliveries.push);
      const [id] = await transport.publish(destination, [{ type: 'Job', data: {} }]);
      const first = await deliveries.next();
      const failedAt = new Date('2026-01-02T03:04:05.000Z');
      const naked = performance.now();
      await first.retry(300, { at: failedAt, error: 'boom' });
      const second = await deliveries.next();
      // The broker holds the message for the delay (`nak` with delay, NATS 2.7.1+).
      expect(performance.now() - naked).toBeGreaterThanOrEqual(250);
      await second.release();
      const third = await deliveries.next();
      expect(third.message?.id).toBe(id);
      expect(
        [first, second, third].map((d) => ({
          attempt: d.attempt,
          firstFailureAt: d.firstFailureAt,
        })),
      ).toEqual([
        { attempt: 1, firstFailureAt: undefined },
        { attempt: 2, firstFailureAt: failedAt },
        { attempt: 2, firstFailureAt: failedAt },
      ]);
      await third.ack();
      await handle.stop();
    } finally {
      await transport.close();
    }
  });

  it('publishes CloudEvents in binary mode (ce- headers) that the cloudevents SDK reads', async () => {
    const destination = freshDestination();
    const driver = await NatsTransportDriver.connect(settings);
    const transport = createTransport(driver);
    try {
      const deliveries = deliveryInbox();
      const handle = await driver.consume(destination, 'sdk', { prefetch: 1 }, deliveries.push);
      const [id] = await transport.publish(destination, [
        { type: 'OrderPlaced', data: { orderId: 'o1' }, subject: 'orders/o1', partitionkey: 'o1' },
      ]);
      const delivery = await deliveries.next();
      await delivery.ack();
      await handle.stop();
      // The NATS binding's binary mode uses the same ce- header names as HTTP's.
      const headers = Object.fromEntries(
        Object.entries(delivery.raw.headers).filter(([name]) => !name.startsWith('Nats-')),
      );
      const event = HTTP.toEvent({ headers, body: delivery.raw.body });
      expect(event).toMatchObject({
        id,
        type: 'OrderPlaced',
        source: 'causeway',
        subject: 'orders/o1',
        partitionkey: 'o1',
        datacontenttype: 'application/json',
        data: { orderId: 'o1' },
      });
    } finally {
      await transport.close();
    }
  });

  it("keeps a long handler's delivery with in-progress signals instead of letting it be redelivered", async () => {
    const destination = freshDestination();
    const driver = await NatsTransportDriver.connect({ ...settings, ackWaitMs: 1_000 });
    const transport = createTransport(driver);
    try {
      const attempts: number[] = [];
      let finished!: () => void;
      const done = new Promise<void>((resolve) => (finished = resolve));
      await transport.subscribe(destination, 'slow', async (_m, { attempt }) => {
        attempts.push(attempt);
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        finished();
      });
      await transport.publish(destination, [{ type: 'Report', data: {} }]);
      await done;
      expect(attempts).toEqual([1]);
    } finally {
      await transport.close();
    }
  });

  it('manages dead letters: list, show, count, retry for the failed group only, purge', async () => {
    const destination = freshDestination();
    const driver = await NatsTransportDriver.connect(settings);
    const transport = createTransport(driver);
    const manager = new DeadLetterManager(driver.deadLetterStore);
    try {
      await deadLetterManagerCase(transport, manager, destination);
    } finally {
      await transport.close();
    }
  });

  it('keeps the envelope as CloudEvents NATS headers and the failure on the dead letter', async () => {
    const destination = freshDestination();
    const driver = await NatsTransportDriver.connect(settings);
    const transport = createTransport(driver);
    try {
      const consumer = await transport.subscribe(
        destination,
        'dl',
        (m: Message) => {
          throw new Error(`refusée\n${m.id}`);
        },
        { retry: { maxAttempts: 1 } },
      );
      const [id] = await transport.publish(destination, [
        { type: 'Charge', data: { n: 1 }, partitionkey: 'k' },
      ]);
      let letters = await driver.listDeadLetters(destination);
      for (let i = 0; i < 200 && letters.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        letters = await driver.listDeadLetters(destination);
      }
      await consumer.stop();
      expect(letters).toHaveLength(1);
      expect(letters[0]!.message.headers).toMatchObject({
        'ce-id': id,
        'ce-specversion': '1.0',
        'ce-type': 'Charge',
        'ce-partitionkey': 'k',
        'content-type': 'application/json',
        'causeway-reason': 'max_attempts',
        'causeway-error-class': 'Error',
        'causeway-attempts': '1',
        'causeway-destination': destination,
        'causeway-group': 'dl',
      });
      expect(letters[0]!.failure.errorMessage).toBe(`refusée\n${id}`);
    } finally {
      await transport.close();
    }
  });
});
