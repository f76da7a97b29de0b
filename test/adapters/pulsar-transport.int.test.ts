import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTransport,
  DeadLetterManager,
  isCausewayError,
  PermanentError,
  type Delivery,
  type Message,
} from 'causeway';
import { PulsarPublishError, PulsarTopologyError, PulsarTransportDriver } from 'causeway/pulsar';
import { transportContract } from '../contracts/transport.contract.js';
import {
  createHarness,
  deleteDestinations,
  freshDestination,
  pulsarUrl,
} from './fixtures/pulsar-transport-harness.js';

transportContract(createHarness());

const destinations: string[] = [];
const fresh = () => freshDestination(destinations);

/** Resolves once `test` holds for what was pushed; tests await events, never sleep for them. */
function gather<T>(test: (items: T[]) => boolean) {
  const items: T[] = [];
  let done!: () => void;
  const complete = new Promise<void>((resolve) => (done = resolve));
  return {
    items,
    complete,
    add(item: T) {
      items.push(item);
      if (test(items)) done();
    },
  };
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A TCP relay in front of the broker whose connections a test can cut. */
async function relay(
  target: URL,
): Promise<{ url: string; cut(): void; server: Server; opened: () => number }> {
  const sockets = new Set<Socket>();
  let opened = 0;
  const server = createServer((client) => {
    opened++;
    const upstream = tcpConnect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    opened: () => opened,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

describe('Pulsar transport (WebSocket API)', () => {
  afterAll(() => deleteDestinations(destinations.splice(0)));

  it('keeps each key on one process of a group (Key_Shared) and in order there', async () => {
    const destination = fresh();
    const drivers = await Promise.all(
      [1, 2].map(() => PulsarTransportDriver.connect({ url: pulsarUrl })),
    );
    const transports = drivers.map((d) => createTransport(d));
    try {
      const seen = gather<{ process: number; key: string; n: number }>(
        (items) => items.length === 200,
      );
      for (const [index, transport] of transports.entries())
        await transport.subscribe(
          destination,
          'ordered',
          (m) => seen.add({ process: index, key: m.partitionkey!, n: (m.data as { n: number }).n }),
          { concurrency: 4 },
        );
      const keys = Array.from({ length: 20 }, (_, k) => `k${k}`);
      await transports[0]!.publish(
        destination,
        Array.from({ length: 200 }, (_, n) => ({
          type: 'Step',
          data: { n },
          partitionkey: keys[n % 20]!,
        })),
      );
      await seen.complete;
      for (const key of keys) {
        const mine = seen.items.filter((s) => s.key === key);
        expect(new Set(mine.map((s) => s.process)).size).toBe(1);
        expect(mine.map((s) => s.n)).toEqual([...mine.map((s) => s.n)].sort((a, b) => a - b));
      }
      // 20 keys hashed over 2 consumers: both get some (all on one: p = 2^-19).
      expect(new Set(seen.items.map((s) => s.process))).toEqual(new Set([0, 1]));
    } finally {
      await Promise.all(transports.map((t) => t.close()));
    }
  });

  it('dead letters: list, show, retry to the failed group only, purge (DeadLetterManager)', async () => {
    const destination = fresh();
    const driver = await PulsarTransportDriver.connect({ url: pulsarUrl });
    const transport = createTransport(driver);
    try {
      let refuse = true;
      const billing = gather<{ id: string; attempt: number }>(() => true);
      const audit = gather<string>(() => true);
      await transport.subscribe(destination, 'billing', (m, { attempt }) => {
        if (refuse && (m.data as { bad?: boolean }).bad) throw new PermanentError('refused');
        billing.add({ id: m.id, attempt });
      });
      await transport.subscribe(destination, 'audit', (m) => audit.add(m.id));
      const [badId, otherBadId] = await transport.publish(destination, [
        { type: 'Charge', data: { bad: true }, extensions: { tenant: 't1' } },
        { type: 'Charge', data: { bad: true } },
        { type: 'Charge', data: { bad: false } },
      ]);
      const manager = new DeadLetterManager(driver.deadLetterStore);
      await until(async () => (await manager.count({ destination })) === 2);
      await until(async () => audit.items.length === 3);
      const letters = await manager.list({ destination });
      expect(letters.map((l) => l.messageId).sort()).toEqual([badId, otherBadId].sort());
      expect(letters[0]).toMatchObject({ destination, group: 'billing' });
      expect(letters[0]!.failure).toMatchObject({ reason: 'permanent_error', attempts: 1 });
      const first = letters.find((l) => l.messageId === badId)!;
      expect(first.message.headers).toMatchObject({ ce_id: badId, ce_tenant: 't1' });
      expect(await manager.show(first.id)).toMatchObject({ id: first.id, messageId: badId });
      expect(await manager.list({ destination, error: 'nothing like this' })).toEqual([]);
      expect(await manager.list({ destination, limit: 1, after: letters[0]!.id })).toEqual([
        letters[1],
      ]);

      refuse = false;
      const before = billing.items.length;
      expect(await manager.retry(first.id)).toBe(true);
      await until(async () => billing.items.length === before + 1);
      expect(billing.items.at(-1)).toEqual({ id: badId, attempt: 1 });
      expect(await manager.retry(first.id)).toBe(false);
      expect(await manager.count({ destination })).toBe(1);
      expect(await manager.purge({ destination })).toBe(1);
      expect(await manager.count({ destination })).toBe(0);
      // The retried letter went to billing's retry topic: audit never saw it twice.
      expect(audit.items.filter((id) => id === badId)).toHaveLength(1);
    } finally {
      await transport.close();
    }
  });

  it("Pulsar's own dead-letter policy takes over after maxRedeliveries ack timeouts", async () => {
    const destination = fresh();
    const driver = await PulsarTransportDriver.connect({
      url: pulsarUrl,
      ackTimeoutMs: 1_000,
      maxRedeliveries: 1,
    });
    const received = gather<Delivery>((items) => items.length === 2);
    // Never settled: the broker redelivers after the ack timeout, then dead-letters.
    const handle = await driver.consume(destination, 'stuck', { prefetch: 4 }, (d) =>
      received.add(d),
    );
    try {
      const [message] = await createTransport(driver).publish(destination, [
        { type: 'Hang', data: {} },
      ]);
      await received.complete;
      expect(received.items.map((d) => d.attempt)).toEqual([1, 2]);
      await until(async () => (await driver.listDeadLetters(destination)).length === 1);
      const [letter] = await driver.listDeadLetters(destination);
      expect(letter).toMatchObject({ messageId: message, destination, group: 'stuck' });
      expect(letter!.failure).toMatchObject({
        reason: 'max_attempts',
        errorClass: 'MaxDeliveriesExceeded',
      });
    } finally {
      // Give the deliveries back so the consumer closes now, not only with the driver.
      await Promise.all(received.items.map((d) => d.release()));
      await handle.stop();
      await driver.close();
    }
  });

  it('reconnects after its connections drop: consumers resume, publishing reopens its producer', async () => {
    const destination = fresh();
    const proxy = await relay(new URL(pulsarUrl));
    const errors: unknown[] = [];
    const viaProxy = await PulsarTransportDriver.connect({
      url: proxy.url,
      onError: (e) => errors.push(e),
    });
    const direct = createTransport(await PulsarTransportDriver.connect({ url: pulsarUrl }));
    const transport = createTransport(viaProxy);
    try {
      const got = gather<Message>(() => true);
      await transport.subscribe(destination, 'resilient', (m) => got.add(m));
      await transport.publish(destination, [{ type: 'Before', data: {} }]);
      await until(async () => got.items.length === 1);
      const connectionsBefore = proxy.opened();
      proxy.cut();
      await direct.publish(destination, [{ type: 'During', data: {} }]);
      await until(async () => got.items.some((m) => m.type === 'During'));
      expect(proxy.opened()).toBeGreaterThan(connectionsBefore);
      // The cut producer is dropped from the pool: the next publish opens a new one.
      await until(async () => {
        try {
          await transport.publish(destination, [{ type: 'After', data: {} }]);
          return true;
        } catch (error) {
          expect(isCausewayError(error) && error.code).toBe('STORE_UNAVAILABLE');
          return false;
        }
      });
      await until(async () => got.items.some((m) => m.type === 'After'));
    } finally {
      await Promise.all([transport.close(), direct.close()]);
      proxy.server.close();
    }
  });

  it('a message the broker refuses rejects publish with PulsarPublishError (its receipt is an error)', async () => {
    const destination = fresh();
    const topic = `${pulsarUrl}/admin/v2/persistent/public/default/${destination}`;
    expect((await fetch(topic, { method: 'PUT' })).status).toBe(204);
    // A topic policy the broker enforces on each message: at most 64 bytes.
    const policy = await fetch(`${topic}/maxMessageSize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '64',
    });
    expect(policy.status).toBe(204);
    const transport = createTransport(await PulsarTransportDriver.connect({ url: pulsarUrl }));
    try {
      // Topic policies reach the broker through a system topic: wait until it enforces this one.
      let refused: unknown;
      await until(async () => {
        refused = await transport
          .publish(destination, [{ type: 'Big', data: { text: 'x'.repeat(500) } }])
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        return refused !== undefined;
      });
      expect(refused).toBeInstanceOf(PulsarPublishError);
      expect(isCausewayError(refused) && refused.code).toBe('PUBLISH_REJECTED');
      expect((refused as PulsarPublishError).topic).toBe(destination);
      expect((refused as Error).message).toContain('Exceed maximum message size');
    } finally {
      await transport.close();
    }
  });

  it('names what is wrong: an unknown namespace, a broker that does not answer', async () => {
    const missing = await PulsarTransportDriver.connect({
      url: pulsarUrl,
      namespace: 'no-such-namespace',
    }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PulsarTopologyError);
    expect(isCausewayError(missing) && missing.code).toBe('TRANSPORT_SETUP');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const down = await PulsarTransportDriver.connect({ url: `http://127.0.0.1:${port}` }).catch(
      (e: unknown) => e,
    );
    expect(isCausewayError(down) && down.code).toBe('STORE_UNAVAILABLE');
    expect((down as Error).message).toContain(`127.0.0.1:${port}`);
  });
});
