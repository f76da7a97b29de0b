import { Consumer as KafkaConsumer, stringDeserializers } from '@platformatic/kafka';
import { Kafka, type KafkaMessage } from 'cloudevents';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTransport,
  DeadLetterManager,
  isCausewayError,
  isStoreUnavailableError,
} from 'causeway';
import { KafkaTopologyError, KafkaTransportDriver } from 'causeway/kafka';
import { transportContract } from '../contracts/transport.contract.js';
import { distinct } from './fixtures/collector.js';
import { deliveryInbox } from './fixtures/deliveries.js';
import {
  brokers,
  createHarness,
  deleteDestinations,
  freshPrefix,
  kafkaSettings,
  kafkaTestMessage as message,
} from './fixtures/kafka-transport-harness.js';

const prefix = freshPrefix();
const settings = kafkaSettings(prefix);
const destinations: string[] = [];
let counter = 0;

function freshDestination(): string {
  const destination = `k${++counter}`;
  destinations.push(destination);
  return destination;
}

transportContract(createHarness());

describe('Kafka transport', () => {
  afterAll(() => deleteDestinations(prefix, destinations.splice(0)));

  it('publishes CloudEvents in the Kafka binary binding (ce_ headers, key) that the cloudevents SDK reads', async () => {
    const destination = freshDestination();
    const driver = await KafkaTransportDriver.connect(settings);
    const transport = createTransport(driver);
    // A foreign consumer: the plain client, its own group, no Causeway code on the read side.
    const foreign = new KafkaConsumer({
      clientId: 'foreign',
      bootstrapBrokers: [brokers],
      groupId: `${prefix}.foreign-${counter}`,
      deserializers: stringDeserializers,
    });
    try {
      const [id] = await transport.publish(destination, [
        {
          type: 'com.example.order.placed',
          source: '/orders',
          subject: 'orders/o7',
          data: { orderId: 'o7', total: 12.5 },
          partitionkey: 'o7',
          extensions: { tenant: 't9' },
        },
      ]);
      const stream = await foreign.consume({
        topics: [driver.names.topic(destination)],
        mode: 'earliest',
        autocommit: false,
      });
      const [record] = (await stream.take(1).toArray()) as {
        key: string;
        value: string;
        headers: Map<string, string>;
      }[];
      await stream.close();
      const headers = Object.fromEntries(record!.headers);
      expect(headers).toMatchObject({
        ce_id: id,
        ce_specversion: '1.0',
        'content-type': 'application/json',
      });
      expect(record!.key).toBe('o7');
      // The SDK's Kafka binding reads a KafkaMessage: headers, key and value.
      const kafkaMessage: KafkaMessage<string> = {
        headers,
        key: record!.key,
        value: record!.value,
        body: record!.value,
      };
      const event = Kafka.toEvent(kafkaMessage);
      expect(event).toMatchObject({
        id,
        type: 'com.example.order.placed',
        source: '/orders',
        subject: 'orders/o7',
        partitionkey: 'o7',
        tenant: 't9',
        datacontenttype: 'application/json',
        data: { orderId: 'o7', total: 12.5 },
      });
    } finally {
      await foreign.close(true);
      await transport.close();
    }
  });

  it('retries through the retry topic: a backoff never holds up the partition, attempts and first failure ride along', async () => {
    const destination = freshDestination();
    const driver = await KafkaTransportDriver.connect(settings);
    try {
      const deliveries = deliveryInbox();
      const handle = await driver.consume(destination, 'g', { prefetch: 4 }, deliveries.push);
      // Same key, so same partition: the second must not wait for the first one's retry.
      await driver.publish(destination, [message('first', 'k'), message('second', 'k')]);
      const first = await deliveries.next();
      expect(first.message?.type).toBe('first');
      const failedAt = new Date('2026-01-02T03:04:05.000Z');
      const retriedAt = performance.now();
      await first.retry(1_500, { at: failedAt, error: 'boom' });
      const second = await deliveries.next();
      expect(second.message?.type).toBe('second');
      expect(performance.now() - retriedAt).toBeLessThan(1_000);
      await second.ack();
      const again = await deliveries.next();
      expect(performance.now() - retriedAt).toBeGreaterThanOrEqual(1_400);
      expect(again.message?.id).toBe(first.message?.id);
      expect({ attempt: again.attempt, firstFailureAt: again.firstFailureAt }).toEqual({
        attempt: 2,
        firstFailureAt: failedAt,
      });
      await again.retry(0, { at: new Date(), error: 'boom again' });
      const third = await deliveries.next();
      expect({ attempt: third.attempt, firstFailureAt: third.firstFailureAt }).toEqual({
        attempt: 3,
        firstFailureAt: failedAt,
      });
      await third.ack();
      await handle.stop();
    } finally {
      await driver.close();
    }
  });

  it('a member joining mid-stream takes over partitions: nothing lost, each key still in order', async () => {
    const destination = freshDestination();
    const [a, b] = await Promise.all([
      KafkaTransportDriver.connect(settings),
      KafkaTransportDriver.connect(settings),
    ]);
    const first = createTransport(a);
    const second = createTransport(b);
    try {
      const keys = Array.from({ length: 12 }, (_, k) => `key-${k}`);
      // Per key, the order in which each n was handled for the first time (by either member).
      const order = new Map<string, number[]>(keys.map((k) => [k, []]));
      const byMember = { a: new Set<number>(), b: new Set<number>() };
      const all = distinct<number>(240);
      let handledByA!: () => void;
      const aWarm = new Promise<void>((resolve) => (handledByA = resolve));
      let joined!: () => void;
      const bJoined = new Promise<void>((resolve) => (joined = resolve));
      const handler =
        (member: 'a' | 'b') => async (m: { data: unknown; partitionkey?: string }) => {
          const { n } = m.data as { n: number };
          // A holds what it started after its first 40 until B has joined: the rebalance takes
          // partitions from a member with unsettled messages of them.
          if (member === 'a' && byMember.a.size >= 40) await bJoined;
          await new Promise((resolve) => setTimeout(resolve, 2));
          byMember[member].add(n);
          if (!all.seen.has(n)) order.get(m.partitionkey!)!.push(n);
          all.add(n);
          if (byMember.a.size === 40) handledByA();
        };
      await first.subscribe(destination, 'shared', handler('a'), { concurrency: 4 });
      await first.publish(
        destination,
        Array.from({ length: 240 }, (_, n) => ({
          type: 'Step',
          data: { n },
          partitionkey: keys[n % keys.length]!,
        })),
      );
      await aWarm;
      await second.subscribe(destination, 'shared', handler('b'), { concurrency: 4 });
      joined();
      await all.complete;
      for (const [key, ns] of order) expect(ns, key).toEqual([...ns].sort((x, y) => x - y));
      expect(byMember.a.size).toBeGreaterThanOrEqual(40);
      expect(byMember.b.size).toBeGreaterThan(0);
      const twice = [...byMember.a].filter((n) => byMember.b.has(n)).length;
      console.info(
        `rebalance: A handled ${byMember.a.size}, B ${byMember.b.size}, ${twice} by both (handed out by A, not committed when its partition moved)`,
      );
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('manages dead letters: list, show, count, retry for the failed group only, purge', async () => {
    const destination = freshDestination();
    const driver = await KafkaTransportDriver.connect(settings);
    const transport = createTransport(driver);
    const manager = new DeadLetterManager(driver.deadLetterStore);
    try {
      let refuse = true;
      const billed: string[] = [];
      let billedAgain!: () => void;
      const retried = new Promise<void>((resolve) => (billedAgain = resolve));
      await transport.subscribe(
        destination,
        'billing',
        (m) => {
          if (refuse) throw new Error('card declined');
          billed.push(m.id);
          billedAgain();
        },
        { retry: { maxAttempts: 1 } },
      );
      const shipped: string[] = [];
      let sentinelShipped!: () => void;
      const shippedSentinel = new Promise<void>((resolve) => (sentinelShipped = resolve));
      await transport.subscribe(destination, 'shipping', (m) => {
        shipped.push(m.id);
        if (m.type === 'Sentinel') sentinelShipped();
      });
      const [id, other] = await transport.publish(destination, [
        { type: 'Charge', data: { n: 1 }, partitionkey: 'a' },
        { type: 'Charge', data: { n: 2 }, partitionkey: 'b' },
      ]);
      let letters = await manager.list({ destination });
      for (let i = 0; i < 400 && letters.length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        letters = await manager.list({ destination });
      }
      expect(letters.map((l) => l.messageId).sort()).toEqual([id, other].sort());
      expect(await manager.count({ destination, error: 'declined' })).toBe(2);
      expect(await manager.count({ destination, error: 'nothing like it' })).toBe(0);
      const letter = letters.find((l) => l.messageId === id)!;
      expect(await manager.show(letter.id)).toMatchObject({
        destination,
        group: 'billing',
        message: { headers: { ce_id: id, ce_partitionkey: 'a' }, body: '{"n":1}' },
        failure: {
          reason: 'max_attempts',
          errorClass: 'Error',
          errorMessage: 'card declined',
          attempts: 1,
        },
      });
      expect((await manager.list({ destination, limit: 1 })).length).toBe(1);
      expect(await manager.list({ destination, after: letters[1]!.id })).toEqual([]);

      refuse = false;
      expect(await manager.retry(letter.id)).toBe(true);
      expect(await manager.retry(letter.id)).toBe(false);
      await retried;
      expect(billed).toEqual([id]);
      expect((await manager.list({ destination })).map((l) => l.messageId)).toEqual([other]);
      expect(await manager.purge({ destination })).toBe(1);
      expect(await manager.count({ destination })).toBe(0);
      expect(await manager.count()).toBe(0);
      // Shipping handled each message once: the retry went to billing's retry topic only.
      const [sentinel] = await transport.publish(destination, [
        { type: 'Sentinel', data: {}, partitionkey: 'a' },
      ]);
      await shippedSentinel;
      expect(shipped.sort()).toEqual([id, other, sentinel].sort());
    } finally {
      await transport.close();
    }
  });

  it('reports setup problems as typed errors with stable codes', async () => {
    const driver = await KafkaTransportDriver.connect({ ...settings, partitions: 0 });
    try {
      const refused = await driver.publish(freshDestination(), []).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(KafkaTopologyError);
      expect(isCausewayError(refused) && refused.code).toBe('TRANSPORT_SETUP');
      expect((refused as Error).message).toContain('Cannot create Kafka topic');
      const reserved = await driver
        .consume('orders.dlq', 'g', { prefetch: 1 }, () => {})
        .catch((e: unknown) => e);
      expect(reserved).toBeInstanceOf(KafkaTopologyError);
      expect((reserved as Error).message).toContain('reserves');
    } finally {
      await driver.close();
    }
    const unreachable = await KafkaTransportDriver.connect({ brokers: '127.0.0.1:1' }).catch(
      (e: unknown) => e,
    );
    expect(isStoreUnavailableError(unreachable)).toBe(true);
    const invalid = await KafkaTransportDriver.connect({ ...settings, maxUncommitted: 0 }).catch(
      (e: unknown) => e,
    );
    expect(isCausewayError(invalid) && invalid.code).toBe('VALIDATION');
    expect((invalid as Error).message).toContain('maxUncommitted');
  });
});
