import { randomBytes } from 'node:crypto';
import { HTTP } from 'cloudevents';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTransport,
  DeadLetterManager,
  isCausewayError,
  isStoreUnavailableError,
} from 'causeway';
import { RedisSetupError, RedisTransportDriver, type RedisTransportOptions } from 'causeway/redis';
import { transportContract } from '../contracts/transport.contract.js';
import { deadLetterManagerCase } from './fixtures/dead-letter-manager-case.js';
import { deliveryInbox } from './fixtures/deliveries.js';
import { ownRedisServer } from './fixtures/redis-server.js';
import { createHarness, redisTestOptions, redisUrl } from './fixtures/redis-transport-harness.js';

// The contract runs against a redis-server of this file's own with the AOF on, so its
// broker-restart case can kill -9 it and lose nothing acknowledged; the shared Redis keeps
// nothing across a restart, and other test files use it.
const server = await ownRedisServer(true);
const contractHarness = createHarness({ url: server.url });
transportContract({
  ...contractHarness,
  restartKind: 'kill -9 and restart of a redis-server with appendfsync always',
  restartBroker: async () => {
    await server.kill();
    await server.start();
  },
  cleanup: async () => {
    await contractHarness.cleanup();
    await server.dispose();
  },
});

const prefix = `cw-test-${randomBytes(4).toString('hex')}`;
const drivers: RedisTransportDriver[] = [];
let counter = 0;

async function newDriver(extra: RedisTransportOptions = {}): Promise<RedisTransportDriver> {
  const driver = await RedisTransportDriver.connect(redisTestOptions(prefix, extra));
  drivers.push(driver);
  return driver;
}

const redis = createClient({ url: redisUrl });
redis.on('error', () => undefined);
const admin = async () => (redis.isOpen ? redis : redis.connect());

/** Polls `read` until `done` holds (dead letters and trims happen after the handler returns). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Redis Streams transport', () => {
  const destination = () => `d${++counter}`;

  afterAll(async () => {
    const cleaner = await RedisTransportDriver.connect(redisTestOptions(prefix));
    for (let n = 1; n <= counter; n++) await cleaner.deleteDestination(`d${n}`);
    await cleaner.close();
    await Promise.all(drivers.map((d) => d.close()));
    const left = await (await admin()).keys(`${prefix}:*`);
    await redis.close();
    expect(left).toEqual([]);
  });

  it('publishes CloudEvents in binary mode (ce- fields, data field) that the cloudevents SDK reads', async () => {
    const dest = destination();
    const driver = await newDriver();
    const transport = createTransport(driver);
    const deliveries = deliveryInbox();
    const handle = await driver.consume(dest, 'sdk', { prefetch: 1 }, deliveries.push);
    const [id] = await transport.publish(dest, [
      { type: 'OrderPlaced', data: { orderId: 'o1' }, subject: 'orders/o1', partitionkey: 'o1' },
    ]);
    const [[, fields]] = (await (
      await admin()
    ).sendCommand(['XRANGE', `${prefix}:{${dest}}:stream`, '-', '+'])) as [[string, string[]]];
    expect(fields).toEqual(
      expect.arrayContaining(['ce-id', id, 'ce-type', 'OrderPlaced', 'data', '{"orderId":"o1"}']),
    );
    const delivery = await deliveries.next();
    await delivery.ack();
    await handle.stop();
    expect(HTTP.toEvent({ headers: delivery.raw.headers, body: delivery.raw.body })).toMatchObject({
      id,
      type: 'OrderPlaced',
      source: 'causeway',
      subject: 'orders/o1',
      partitionkey: 'o1',
      datacontenttype: 'application/json',
      data: { orderId: 'o1' },
    });
  });

  it('counts attempts through retries, keeps the first failure time, and does not count released deliveries', async () => {
    const dest = destination();
    const driver = await newDriver({ retryPollIntervalMs: 50 });
    const transport = createTransport(driver);
    const deliveries = deliveryInbox();
    const handle = await driver.consume(dest, 'g', { prefetch: 1 }, deliveries.push);
    const [id] = await transport.publish(dest, [{ type: 'Job', data: {} }]);
    const first = await deliveries.next();
    const failedAt = new Date('2026-01-02T03:04:05.000Z');
    const retriedAt = performance.now();
    await first.retry(300, { at: failedAt, error: 'boom' });
    const delayed = await (await admin()).zCard(`${prefix}:{${dest}}:delayed:g`);
    const second = await deliveries.next();
    // The retry waited in the delayed set for its delay, then came back through the retry stream.
    expect(delayed).toBe(1);
    expect(performance.now() - retriedAt).toBeGreaterThanOrEqual(250);
    await second.release();
    const third = await deliveries.next();
    expect(third.message?.id).toBe(id);
    expect(
      [first, second, third].map((d) => ({ attempt: d.attempt, firstFailureAt: d.firstFailureAt })),
    ).toEqual([
      { attempt: 1, firstFailureAt: undefined },
      { attempt: 2, firstFailureAt: failedAt },
      { attempt: 2, firstFailureAt: failedAt },
    ]);
    await third.ack();
    await handle.stop();
    // Settled entries of the group's retry stream are deleted: it only ever holds live retries.
    expect(await (await admin()).xLen(`${prefix}:{${dest}}:retry:g`)).toBe(0);
  });

  it("keeps a slow handler's entry from being claimed by another consumer of the group", async () => {
    const dest = destination();
    const driver = await newDriver({ claimMinIdleMs: 300, claimIntervalMs: 50 });
    const transport = createTransport(driver);
    const attempts: number[] = [];
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const handler = async (_m: unknown, { attempt }: { attempt: number }) => {
      attempts.push(attempt);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      finished();
    };
    await transport.subscribe(dest, 'slow', handler);
    await transport.subscribe(dest, 'slow', handler);
    await transport.publish(dest, [{ type: 'Report', data: {} }]);
    await done;
    expect(attempts).toEqual([1]);
    await transport.close();
  });

  it('removes consumers that hold nothing: a crashed one once its entries were claimed, its own on stop', async () => {
    const dest = destination();
    const settings = { claimMinIdleMs: 200, claimIntervalMs: 50, blockMs: 100 };
    const consumers = async () =>
      (
        (await (
          await admin()
        ).sendCommand(['XINFO', 'CONSUMERS', `${prefix}:{${dest}}:stream`, 'tidy'])) as string[][]
      ).map((c) => c[c.indexOf('name') + 1]);
    const crashed = await RedisTransportDriver.connect(redisTestOptions(prefix, settings));
    const held = deliveryInbox();
    await crashed.consume(dest, 'tidy', { prefetch: 1 }, held.push);
    await createTransport(crashed).publish(dest, [{ type: 'Job', data: {} }]);
    await held.next();
    await crashed.close();
    const [gone] = await consumers();

    const driver = await newDriver(settings);
    const claimed = deliveryInbox();
    const handle = await driver.consume(dest, 'tidy', { prefetch: 1 }, claimed.push);
    const delivery = await claimed.next();
    expect(delivery.attempt).toBe(2);
    await delivery.ack();
    const left = await eventually(consumers, (names) => !names.includes(gone!));
    expect(left).toHaveLength(1);
    await handle.stop();
    expect(await consumers()).toEqual([]);
  });

  it('trims with MAXLEN ~ when asked, and reports pending entries that trimming dropped', async () => {
    const dest = destination();
    const errors: unknown[] = [];
    const settings = { maxLength: 100, claimMinIdleMs: 100, claimIntervalMs: 50 };
    // A consumer that takes one entry and goes away with it unsettled.
    const crashed = await RedisTransportDriver.connect(redisTestOptions(prefix, settings));
    const held = deliveryInbox();
    await crashed.consume(dest, 'slow', { prefetch: 1 }, held.push);
    const driver = await newDriver({ ...settings, onError: (e) => errors.push(e) });
    const transport = createTransport(driver);
    await transport.publish(dest, [{ type: 'Job', data: { n: -1 } }]);
    await held.next();
    await crashed.close();
    for (let batch = 0; batch < 10; batch++)
      await transport.publish(
        dest,
        Array.from({ length: 100 }, (_, n) => ({ type: 'Job', data: { n } })),
      );
    const length = await (await admin()).xLen(`${prefix}:{${dest}}:stream`);
    // Approximate: whole macro nodes go, so a little more than the cap stays.
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(300);
    const recovered = deliveryInbox();
    const survivor = await driver.consume(dest, 'slow', { prefetch: 1 }, recovered.push);
    const reported = await eventually(
      async () => errors.map(String).filter((e) => e.includes('trimmed before slow settled')),
      (found) => found.length > 0,
    );
    expect(reported).toHaveLength(1);
    await survivor.stop();
  });

  it('manages dead letters: list, show, count, retry for the failed group only, purge', async () => {
    const dest = destination();
    const driver = await newDriver();
    const transport = createTransport(driver);
    const manager = new DeadLetterManager(driver.deadLetterStore);
    await deadLetterManagerCase(transport, manager, dest, async (letter) => {
      const [[, fields]] = (await (
        await admin()
      ).sendCommand([
        'XRANGE',
        `${prefix}:{${dest}}:dead-letters`,
        letter.id.slice(letter.id.lastIndexOf(':') + 1),
        '+',
      ])) as [[string, string[]]];
      expect(fields).toEqual(
        expect.arrayContaining([
          'causeway-reason',
          'max_attempts',
          'causeway-group',
          'billing',
          'causeway-destination',
          dest,
        ]),
      );
    });
    await transport.close();
  });

  it('refuses a key of another type in the way with a typed setup error', async () => {
    const dest = destination();
    await (await admin()).set(`${prefix}:{${dest}}:stream`, 'not a stream');
    const driver = await newDriver();
    const failure = await driver
      .publish(dest, [])
      .then(() => driver.publishRaw(dest, [{ headers: {}, body: '1' }]))
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RedisSetupError);
    expect(isCausewayError(failure) && failure.code).toBe('TRANSPORT_SETUP');
    const consumeFailure = await driver
      .consume(dest, 'g', { prefetch: 1 }, () => {})
      .catch((e: unknown) => e);
    expect(consumeFailure).toBeInstanceOf(RedisSetupError);
    await (await admin()).del(`${prefix}:{${dest}}:stream`);
  });

  it('fails fast with StoreUnavailableError when Redis cannot be reached', async () => {
    const failure = await RedisTransportDriver.connect({ url: 'redis://127.0.0.1:1' }).catch(
      (e: unknown) => e,
    );
    expect(isStoreUnavailableError(failure)).toBe(true);
  });
});
