import { spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Consumer as KafkaConsumer, stringDeserializers } from '@platformatic/kafka';
import { Kafka, type KafkaMessage } from 'cloudevents';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTransport,
  DeadLetterManager,
  isCausewayError,
  isStoreUnavailableError,
  type Delivery,
} from 'causeway';
import { KafkaTopologyError, KafkaTransportDriver } from 'causeway/kafka';
import { transportContract } from '../contracts/transport.contract.js';
import {
  brokers,
  createHarness,
  deleteDestinations,
  freshPrefix,
  kafkaSettings,
} from './fixtures/kafka-transport-harness.js';

/** Published by @platformatic/kafka once the broker answered a commit request. */
const COMMIT_ANSWERS = 'tracing:plt:kafka:consumer:commits:asyncStart';

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

/** Deliveries in arrival order; `next()` waits for the next one. */
function inbox() {
  const queue: Delivery[] = [];
  const waiting: ((d: Delivery) => void)[] = [];
  return {
    push: (delivery: Delivery) => {
      const taker = waiting.shift();
      if (taker) taker(delivery);
      else queue.push(delivery);
    },
    next: () =>
      new Promise<Delivery>((resolve) => {
        const ready = queue.shift();
        if (ready) resolve(ready);
        else waiting.push(resolve);
      }),
  };
}

/** Resolves once `count` distinct values were added. */
function distinct<T>(count: number) {
  const seen = new Set<T>();
  let done!: () => void;
  const complete = new Promise<void>((resolve) => (done = resolve));
  return {
    seen,
    complete,
    add(value: T) {
      seen.add(value);
      if (seen.size === count) done();
    },
  };
}

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
      const deliveries = inbox();
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

  it('commits only settled offsets: a consumer killed mid-batch (kill -9) loses nothing, only handled-but-uncommitted work repeats', async () => {
    const destination = freshDestination();
    const group = 'crashy';
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        fileURLToPath(new URL('./fixtures/kafka-consumer-process.ts', import.meta.url)),
        prefix,
        destination,
        group,
      ],
      { cwd: resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const lines = createInterface({ input: child.stdout });
    const started = new Set<string>();
    const handledByChild = new Set<string>();
    let ready = false;
    const checks = new Set<() => void>();
    // One listener for the child's whole life: no line is missed between two waits.
    lines.on('line', (text: string) => {
      const line = JSON.parse(text) as { ready?: boolean; started?: string; handled?: string };
      if (line.ready) ready = true;
      if (line.started) started.add(line.started);
      if (line.handled) handledByChild.add(line.handled);
      for (const check of checks) check();
    });
    const wait = (test: () => boolean) =>
      new Promise<void>((done, reject) => {
        const check = () => {
          if (!test()) return;
          checks.delete(check);
          done();
        };
        checks.add(check);
        check();
        void exited.then(() => reject(new Error(`consumer process exited: ${stderr}`)));
      });
    const driver = await KafkaTransportDriver.connect(settings);
    const transport = createTransport(driver);
    try {
      await wait(() => ready);
      // 60 messages on 3 partitions, 6 keys; two hang in the child, so later messages of their
      // partitions (other keys) are handled out of order while they stay unsettled.
      const ids = await transport.publish(
        destination,
        Array.from({ length: 60 }, (_, n) => ({
          type: 'Job',
          data: { n, hang: n === 7 || n === 20 },
          partitionkey: `key-${n % 6}`,
        })),
      );
      const hanging = new Set([ids[7]!, ids[20]!]);
      await wait(() => handledByChild.size >= 30 && [...hanging].every((id) => started.has(id)));
      child.kill('SIGKILL');
      await exited;
      const heldWhenKilled = [...started].filter((id) => !handledByChild.has(id));
      const after = distinct<string>(ids.length - handledByChild.size);
      const repeated = new Set<string>();
      await transport.subscribe(destination, group, (m) => {
        if (handledByChild.has(m.id)) repeated.add(m.id);
        else after.add(m.id);
      });
      await after.complete;
      // Every message is handled; nothing the child held unfinished was committed.
      expect(new Set([...handledByChild, ...after.seen])).toEqual(new Set(ids));
      for (const id of heldWhenKilled) expect(after.seen.has(id)).toBe(true);
      expect(heldWhenKilled.length).toBeGreaterThan(0);
      console.info(
        `kill -9: child handled ${handledByChild.size}, held ${heldWhenKilled.length} unfinished; ` +
          `after restart ${after.seen.size} new, ${repeated.size} repeated (handled, not yet committed)`,
      );
    } finally {
      child.kill('SIGKILL');
      await transport.close();
    }
  }, 60_000);

  it('handlers run on while commits are in flight: at most prefetch held, at most maxUncommitted uncommitted', async () => {
    const destination = freshDestination();
    const prefetch = 4;
    const maxUncommitted = 24;
    // One partition, so the offsets handed out are 0, 1, 2, … in delivery order and a commit's
    // offset says how many of them a crash would no longer deliver again.
    const driver = await KafkaTransportDriver.connect({
      ...settings,
      partitions: 1,
      maxUncommitted,
    });
    let committed = 0n;
    let rounds = 0;
    const done = (context: unknown) => {
      const { options, error } = context as {
        options: { offsets: { topic: string; offset: bigint }[] };
        error?: unknown;
      };
      if (error !== undefined) return;
      for (const o of options.offsets)
        if (o.topic.endsWith(`.${destination}`)) {
          rounds++;
          if (o.offset > committed) committed = o.offset;
        }
    };
    // The broker has answered the commit (before the client's callback, so before the consumer
    // counts it): measuring against it can only overstate what is uncommitted.
    subscribe(COMMIT_ANSWERS, done);
    try {
      const total = 400;
      await driver.publish(
        destination,
        Array.from({ length: total }, (_, i) => message('batched', `key-${i % 7}`)),
      );
      const acked = distinct<string>(total);
      let delivered = 0;
      let held = 0;
      let mostHeld = 0;
      let mostUncommitted = 0;
      const handle = await driver.consume(destination, 'g', { prefetch }, (delivery) => {
        delivered++;
        held++;
        mostHeld = Math.max(mostHeld, held);
        mostUncommitted = Math.max(mostUncommitted, delivered - Number(committed));
        // Acked a turn after delivery, as the runtime's handlers do.
        setImmediate(() => {
          held--;
          void delivery.ack().then(() => acked.add(delivery.message?.id ?? ''));
        });
      });
      await acked.complete;
      await handle.stop();
      await driver.close();
      expect(mostHeld).toBe(prefetch);
      expect(mostUncommitted).toBeLessThanOrEqual(maxUncommitted);
      // The handlers did not wait for each commit round to free their slots...
      expect(mostUncommitted).toBeGreaterThan(prefetch);
      // ...and rounds coalesce what settled meanwhile, so there are far fewer rounds than
      // prefetch-sized batches.
      expect(rounds).toBeLessThanOrEqual(total / prefetch / 2);
      expect(committed).toBe(BigInt(total));
    } finally {
      unsubscribe(COMMIT_ANSWERS, done);
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

function message(type: string, partitionkey: string) {
  return {
    id: `${type}-${randomBytes(4).toString('hex')}`,
    source: 'test',
    type,
    specversion: '1.0' as const,
    time: new Date(),
    datacontenttype: 'application/json',
    data: {},
    partitionkey,
    extensions: {},
  };
}
