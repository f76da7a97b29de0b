/**
 * Closing a Redis driver on a connection that stays up while the server stops answering (a
 * network partition, a stalled proxy): node-redis' own `close()` waits for every pending reply
 * and would never return. The driver gives commands in flight a grace period, then drops the
 * connection and fails them.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isStoreUnavailableError, toMessage } from 'causeway';
import { RedisTransportDriver } from 'causeway/redis';
import { closeClient, openClient } from '../../src/adapters/redis/redis-connection.js';
import { redisUrl } from './fixtures/redis-transport-harness.js';

/** A TCP proxy to Redis that forwards until `stall()`, then swallows everything both ways. */
async function stallingProxy() {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  let stalled = false;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk) => stalled || upstream.write(chunk));
    upstream.on('data', (chunk) => stalled || client.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    stall: () => (stalled = true),
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

describe('Redis: closing while the server stops answering', () => {
  const proxies: { close(): void }[] = [];
  afterEach(() => proxies.splice(0).forEach((p) => p.close()));

  it('closeClient waits out its grace period, then fails the commands in flight', async () => {
    const proxy = await stallingProxy();
    proxies.push(proxy);
    const client = await openClient(proxy.url, () => undefined);
    expect(await client.sendCommand(['PING'])).toBe('PONG');
    proxy.stall();
    const pending = client.sendCommand(['PING']).then(
      () => 'answered',
      () => 'failed',
    );
    const started = performance.now();
    await closeClient(client, 300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(await pending).toBe('failed');
  });

  it('closeClient lets a command that gets its reply finish', async () => {
    const client = await openClient(redisUrl, () => undefined);
    const pending = client.sendCommand(['PING']);
    await closeClient(client, 5_000);
    expect(await pending).toBe('PONG');
  });

  it("the driver's close() returns although a publish never gets its reply; the publish fails as unavailable", async () => {
    const proxy = await stallingProxy();
    proxies.push(proxy);
    const driver = await RedisTransportDriver.connect({
      url: proxy.url,
      prefix: `cw-close-${randomBytes(4).toString('hex')}`,
    });
    proxy.stall();
    const publish = driver
      .publish('orders', [toMessage({ type: 'OrderPlaced', data: {} })])
      .catch((error: unknown) => error);
    await driver.close();
    const outcome = await publish;
    expect(isStoreUnavailableError(outcome)).toBe(true);
  }, 20_000);
});
