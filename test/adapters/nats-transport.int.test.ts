import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HTTP } from 'cloudevents';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTransport,
  DeadLetterManager,
  isCausewayError,
  type Delivery,
  type Message,
} from 'causeway';
import { NatsTopologyError, NatsTransportDriver, type NatsTransportOptions } from 'causeway/nats';
import { transportContract } from '../contracts/transport.contract.js';

const servers = process.env['CAUSEWAY_NATS_URL'] ?? 'nats://127.0.0.1:4222';
// Restarting the broker is only ours to do when it is the one scripts/services.sh runs.
const ownBroker = servers === 'nats://127.0.0.1:4222';
const services = (...args: string[]) => promisify(execFile)('scripts/services.sh', args);
const run = randomBytes(4).toString('hex');
const destinations: string[] = [];
let counter = 0;

function freshDestination(): string {
  const destination = `cw-test-${run}.d${++counter}`;
  destinations.push(destination);
  return destination;
}

// Short pulls so `stop()` returns quickly; the rest are the production defaults.
const settings: NatsTransportOptions = { servers, pullExpiresMs: 1_000 };

async function deleteDestinations(): Promise<void> {
  const driver = await NatsTransportDriver.connect({ servers });
  try {
    for (const destination of destinations.splice(0)) await driver.deleteDestination(destination);
  } finally {
    await driver.close();
  }
}

transportContract({
  name: 'nats',
  async create() {
    const driver = await NatsTransportDriver.connect(settings);
    const transport = createTransport(driver);
    return {
      transport,
      destination: freshDestination,
      publishPoison: (destination, body) => driver.publishRaw(destination, [{ headers: {}, body }]),
      deadLetters: async (destination) =>
        (await driver.listDeadLetters(destination)).map((l) => ({
          body: l.message.body,
          failure: l.failure,
        })),
      close: () => transport.close(),
    };
  },
  cleanup: deleteDestinations,
});

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

describe('NATS JetStream transport', () => {
  afterAll(deleteDestinations);

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

  it('redelivers what a killed consumer process held (kill -9 before acking)', async () => {
    const destination = freshDestination();
    const ackWaitMs = 1_500;
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        fileURLToPath(new URL('./fixtures/nats-consumer-process.ts', import.meta.url)),
        servers,
        destination,
        'crashy',
        String(ackWaitMs),
      ],
      { cwd: resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const lines = createInterface({ input: child.stdout });
    const held: string[] = [];
    const wait = (test: (line: { ready?: boolean; started?: string }) => boolean) =>
      new Promise<void>((done, reject) => {
        const onLine = (text: string) => {
          if (!test(JSON.parse(text) as { ready?: boolean; started?: string })) return;
          lines.off('line', onLine);
          done();
        };
        lines.on('line', onLine);
        void exited.then(() => reject(new Error(`consumer process exited: ${stderr}`)));
      });
    const driver = await NatsTransportDriver.connect({ ...settings, ackWaitMs });
    const transport = createTransport(driver);
    try {
      await wait((line) => line.ready === true);
      const ids = await transport.publish(
        destination,
        Array.from({ length: 6 }, (_, n) => ({ type: 'Job', data: { n } })),
      );
      await wait((line) => line.started !== undefined && held.push(line.started) === 2);
      child.kill('SIGKILL');
      await exited;
      const received = new Map<string, number>();
      let complete!: () => void;
      const all = new Promise<void>((done) => (complete = done));
      await transport.subscribe(destination, 'crashy', (m, { attempt }) => {
        received.set(m.id, attempt);
        if (received.size === ids.length) complete();
      });
      await all;
      expect([...received.keys()].sort()).toEqual([...ids].sort());
      for (const id of held) expect(received.get(id)).toBeGreaterThanOrEqual(2);
    } finally {
      child.kill('SIGKILL');
      await transport.close();
    }
  });

  it.skipIf(!ownBroker)(
    'survives a broker restart mid-stream: every message is handled, none lost',
    async () => {
      const destination = freshDestination();
      const disconnects: unknown[] = [];
      // Acks lost in the restart come back after this ack wait, as redeliveries.
      const driver = await NatsTransportDriver.connect({
        ...settings,
        ackWaitMs: 2_000,
        onError: (e) => disconnects.push(e),
      });
      const transport = createTransport(driver);
      try {
        const handled = new Set<number>();
        let allHandled!: () => void;
        const done = new Promise<void>((resolve) => (allHandled = resolve));
        let someHandled!: () => void;
        const started = new Promise<void>((resolve) => (someHandled = resolve));
        await transport.subscribe(
          destination,
          'survivor',
          async (m) => {
            await new Promise((resolve) => setTimeout(resolve, 25));
            handled.add((m.data as { n: number }).n);
            if (handled.size === 20) someHandled();
            if (handled.size === 200) allHandled();
          },
          { concurrency: 4, onSettleError: (e) => disconnects.push(e) },
        );
        await transport.publish(
          destination,
          Array.from({ length: 200 }, (_, n) => ({ type: 'Job', data: { n } })),
        );
        await started;
        await services('down', 'nats');
        const beforeRestart = handled.size;
        await services('up', 'nats');
        await done;
        expect(beforeRestart).toBeLessThan(200);
        expect(handled.size).toBe(200);
      } finally {
        await transport.close();
      }
    },
  );

  it('carries the first failure time across redeliveries and does not count released deliveries', async () => {
    const destination = freshDestination();
    const driver = await NatsTransportDriver.connect(settings);
    const transport = createTransport(driver);
    try {
      const deliveries = inbox();
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
      const deliveries = inbox();
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

  it('manages dead letters: list, show, retry for the failed group only, purge', async () => {
    const destination = freshDestination();
    const driver = await NatsTransportDriver.connect(settings);
    const transport = createTransport(driver);
    const manager = new DeadLetterManager(driver.deadLetterStore);
    try {
      let refuse = true;
      const billed: string[] = [];
      const shipped: string[] = [];
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
      let sentinelShipped!: () => void;
      const shippedSentinel = new Promise<void>((resolve) => (sentinelShipped = resolve));
      await transport.subscribe(destination, 'shipping', (m) => {
        shipped.push(m.id);
        if (m.type === 'Sentinel') sentinelShipped();
      });
      const [id, other] = await transport.publish(destination, [
        { type: 'Charge', data: { n: 1 } },
        { type: 'Charge', data: { n: 2 } },
      ]);
      let letters = await manager.list({ destination });
      for (let i = 0; i < 400 && letters.length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        letters = await manager.list({ destination });
      }
      expect(letters.map((l) => l.messageId).sort()).toEqual([id, other].sort());
      expect(await manager.count({ destination, error: 'declined' })).toBe(2);
      const letter = letters.find((l) => l.messageId === id)!;
      expect(await manager.show(letter.id)).toMatchObject({
        destination,
        group: 'billing',
        failure: { reason: 'max_attempts', errorMessage: 'card declined' },
      });
      expect(letter.message.headers['ce-id']).toBe(id);

      refuse = false;
      expect(await manager.retry(letter.id)).toBe(true);
      await retried;
      expect(billed).toEqual([id]);
      expect((await manager.list({ destination })).map((l) => l.messageId)).toEqual([other]);
      expect(await manager.purge({ destination })).toBe(1);
      expect(await manager.count({ destination })).toBe(0);
      // Shipping handled each message once: the retry was for billing only. The sentinel comes
      // after the retried copy in the stream, so shipping has seen that copy by then.
      const [sentinel] = await transport.publish(destination, [{ type: 'Sentinel', data: {} }]);
      await shippedSentinel;
      expect(shipped.sort()).toEqual([id, other, sentinel].sort());
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
