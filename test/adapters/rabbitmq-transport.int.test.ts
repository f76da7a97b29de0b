import { randomBytes } from 'node:crypto';
import { CloudEvent } from 'cloudevents';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTransport,
  DeadLetterManager,
  isStoreUnavailableError,
  PermanentError,
  type Message,
} from 'causeway';
import { AMQP_CLOUDEVENTS_PREFIX, RabbitMqTransportDriver } from 'causeway/rabbitmq';
import { transportContract } from '../contracts/transport.contract.js';
import {
  adminConnection,
  amqpUrl,
  closeAdminConnection,
  createHarness,
  deleteTopology,
} from './fixtures/rabbitmq-transport-harness.js';

// One prefix per run: every name this file declares starts with it, so runs never collide.
const prefix = `cw-test-${randomBytes(4).toString('hex')}`;
const drivers: RabbitMqTransportDriver[] = [];
let counter = 0;

async function newDriver(deliveryLimit?: number): Promise<RabbitMqTransportDriver> {
  const driver = await RabbitMqTransportDriver.connect({
    url: amqpUrl,
    prefix,
    ...(deliveryLimit === undefined ? {} : { deliveryLimit }),
  });
  drivers.push(driver);
  return driver;
}

transportContract(createHarness());

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function lettersOf(driver: RabbitMqTransportDriver, destination: string) {
  return driver.deadLetterStore.list({ destination });
}

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await deleteTopology(drivers);
  await closeAdminConnection();
});

describe('RabbitMQ transport', () => {
  it('publishes CloudEvents in AMQP binary mode that the cloudevents SDK reads', async () => {
    const driver = await newDriver();
    const transport = createTransport(driver);
    const destination = `ce-${++counter}`;
    const channel = await (await adminConnection()).createChannel();
    await channel.assertExchange(driver.names.exchange(destination), 'topic', { durable: true });
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, driver.names.exchange(destination), '#');
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
    let got = await channel.get(queue, { noAck: true });
    for (let i = 0; got === false && i < 100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      got = await channel.get(queue, { noAck: true });
    }
    if (got === false) throw new Error('the published message never arrived');
    await channel.close();

    // The AMQP binding maps application properties `cloudEvents:<name>` 1:1 to attributes
    // and the AMQP content-type to `datacontenttype`; the SDK validates what it is given.
    const attributes: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(got.properties.headers ?? {})) {
      if (name.startsWith(AMQP_CLOUDEVENTS_PREFIX))
        attributes[name.slice(AMQP_CLOUDEVENTS_PREFIX.length)] = String(value);
    }
    const event = new CloudEvent({
      ...attributes,
      datacontenttype: got.properties.contentType as string,
      data: JSON.parse(got.content.toString('utf8')) as unknown,
    });
    expect(event.validate()).toBe(true);
    expect(event).toMatchObject({
      specversion: '1.0',
      id,
      type: 'com.example.order.placed',
      source: '/orders',
      subject: 'orders/o7',
      datacontenttype: 'application/json',
      partitionkey: 'o7',
      tenant: 't9',
      data: { orderId: 'o7', total: 12.5 },
    });
    expect(new Date(event.time!).toString()).not.toBe('Invalid Date');
    await transport.close();
  });

  it('dead letters are listed, shown, retried to their group with the same id, and purged', async () => {
    const driver = await newDriver();
    const transport = createTransport(driver);
    const destination = `dlq-${++counter}`;
    let refuse = true;
    const handled: { id: string; attempt: number }[] = [];
    let retried!: () => void;
    const retriedOnce = new Promise<void>((resolve) => (retried = resolve));
    await transport.subscribe(destination, 'ops', (m: Message, { attempt }) => {
      if (refuse) throw new PermanentError(`refused ${m.id}`);
      handled.push({ id: m.id, attempt });
      retried();
    });
    const ids = await transport.publish(destination, [
      { type: 'Charge', data: { n: 1 } },
      { type: 'Charge', data: { n: 2 } },
    ]);
    const manager = new DeadLetterManager(driver.deadLetterStore);
    await until(async () => (await manager.count({ destination })) === 2);
    const letters = await manager.list({ destination });
    expect(letters.map((l) => l.messageId).sort()).toEqual([...ids].sort());
    expect(letters[0]).toMatchObject({ destination, group: 'ops' });
    expect(letters[0]!.failure).toMatchObject({ reason: 'permanent_error', attempts: 1 });
    expect(await manager.show(letters[1]!.id)).toMatchObject({ id: letters[1]!.id });
    expect(await manager.list({ destination, error: 'nothing like this' })).toEqual([]);

    refuse = false;
    expect(await manager.retry(letters[0]!.id)).toBe(true);
    await retriedOnce;
    expect(handled).toEqual([{ id: letters[0]!.messageId, attempt: 1 }]);
    expect(await manager.retry(letters[0]!.id)).toBe(false);
    expect(await manager.count({ destination })).toBe(1);
    expect(await manager.purge({ destination })).toBe(1);
    expect(await manager.count({ destination })).toBe(0);
    await transport.close();
  });

  it('a message whose consumer dies every time is redelivered, then dead-lettered by the delivery limit', async () => {
    const destination = `crash-${++counter}`;
    const reader = await newDriver();
    const publisher = createTransport(reader);
    const seen: string[] = [];
    const hang = (m: Message) => {
      seen.push(m.id);
      return new Promise<void>(() => undefined); // never settles: the process "dies" first
    };
    let id: string | undefined;
    let deadLettered = false;
    for (let round = 0; round < 6 && !deadLettered; round++) {
      const consumer = await newDriver(1);
      const before = seen.length;
      await createTransport(consumer).subscribe(destination, 'fragile', hang);
      if (id === undefined)
        [id] = await publisher.publish(destination, [{ type: 'Crash', data: {} }]);
      await until(async () => {
        deadLettered = (await lettersOf(reader, destination)).length > 0;
        return deadLettered || seen.length > before;
      });
      // Like kill -9: the connection goes while the delivery is unsettled.
      await consumer.close();
    }
    expect(deadLettered).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(new Set(seen)).toEqual(new Set([id]));
    const [letter] = await lettersOf(reader, destination);
    expect(letter).toMatchObject({ messageId: id, destination, group: 'fragile' });
    expect(letter!.failure).toMatchObject({
      reason: 'max_attempts',
      errorClass: 'DeliveryLimitExceeded',
    });
    await publisher.close();
  });

  it('an unreachable broker is a StoreUnavailableError without the password', async () => {
    const error = await RabbitMqTransportDriver.connect({
      url: 'amqp://guest:secret@127.0.0.1:1',
    }).catch((e: unknown) => e);
    expect(isStoreUnavailableError(error)).toBe(true);
    expect((error as Error).message).not.toContain('secret');
  });

  it('a closed driver refuses work with StoreClosedError', async () => {
    const driver = await newDriver();
    await driver.close();
    await expect(driver.publish('anywhere', [])).rejects.toMatchObject({ code: 'STORE_CLOSED' });
    await expect(driver.deadLetterStore.count()).rejects.toMatchObject({ code: 'STORE_CLOSED' });
  });
});
