import amqp, { type ConfirmChannel } from 'amqplib';
import type { TransportDriver } from 'causeway';
import { loadAdapter } from '../causeway.js';
import { BENCH_NAMES, causewayContestant } from './causeway-side.js';
import {
  BATCH_SIZE,
  cloudEventHeaders,
  endToEndRound,
  MESSAGE_TYPE,
  payload,
  payloads,
  PREFETCH,
  Tally,
  uniqueName,
  type Payload,
  type TransportEntrant,
} from './workload.js';

/**
 * RabbitMQ contestants: the same topology on both sides (a durable topic exchange per
 * destination, one durable quorum queue bound with `#`), persistent messages, publisher
 * confirms. The raw side is `amqplib` as its documentation shows it; Causeway adds the
 * CloudEvents headers, a delivery limit and dead-letter routing on the queue.
 */

/** The CloudEvents AMQP binding's header prefix, as Causeway writes it. */
const AMQP_PREFIX = 'cloudEvents:';

export function amqpUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAUSEWAY_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
}

/** Checks the broker answers; returns its version for the results. */
export async function rabbitMqSettings(url: string): Promise<Record<string, string>> {
  const connection = await amqp.connect(url);
  try {
    const props = connection.connection.serverProperties as Record<string, unknown>;
    return {
      'rabbitmq.server': `RabbitMQ ${String(props['version'] ?? 'unknown')}`,
      'rabbitmq.topology':
        'per side: a durable topic exchange and one durable quorum queue (bound with #); persistent messages; publisher confirms',
    };
  } finally {
    await connection.close();
  }
}

/** A message as the raw AMQP side sends it: body and CloudEvents headers (`cloudEvents:`). */
export interface AmqpMessage {
  body: string;
  headers: Record<string, string>;
}

export function amqpMessage(body: Payload): AmqpMessage {
  return { body: JSON.stringify(body), headers: cloudEventHeaders(AMQP_PREFIX) };
}

/** Publishes on a confirm channel and resolves once the broker confirmed every message. */
async function publishConfirmed(
  channel: ConfirmChannel,
  exchange: string,
  messages: readonly AmqpMessage[],
): Promise<void> {
  const confirms: Promise<void>[] = [];
  for (const { body, headers } of messages) {
    let writable = true;
    confirms.push(
      new Promise<void>((resolve, reject) => {
        writable = channel.publish(
          exchange,
          MESSAGE_TYPE,
          Buffer.from(body),
          {
            persistent: true,
            contentType: 'application/json',
            messageId: headers[`${AMQP_PREFIX}id`]!,
            timestamp: Math.floor(Date.now() / 1000),
            type: MESSAGE_TYPE,
            headers,
          },
          (error) => (error ? reject(new Error('the broker refused a message (nack)')) : resolve()),
        );
      }),
    );
    if (!writable) await new Promise((resolve) => channel.once('drain', resolve));
  }
  await Promise.all(confirms);
}

function confirmed(
  channel: ConfirmChannel,
  exchange: string,
  bodies: readonly Payload[],
): Promise<void> {
  return publishConfirmed(channel, exchange, bodies.map(amqpMessage));
}

/** A durable topic exchange with one quorum queue bound to it, as both sides declare them. */
async function declareDestination(
  channel: ConfirmChannel,
  exchange: string,
  queue: string,
): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(queue, exchange, '#');
}

/** A raw amqplib publisher to a fresh exchange and queue (the outbox baselines' broker). */
export interface RawRabbitMqTarget {
  publish(messages: readonly AmqpMessage[]): Promise<void>;
  close(): Promise<void>;
}

export async function rawRabbitMqTarget(url: string): Promise<RawRabbitMqTarget> {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  const exchange = uniqueName('bench-raw-outbox');
  const queue = `${exchange}.bench`;
  await declareDestination(channel, exchange, queue);
  return {
    publish: (messages) => publishConfirmed(channel, exchange, messages),
    close: async () => {
      await channel.deleteQueue(queue);
      await channel.deleteExchange(exchange);
      await connection.close();
    },
  };
}

export function rabbitMqBaseline(url: string): TransportEntrant {
  return {
    label: 'amqplib confirm channel',
    open: async () => {
      const prefix = uniqueName('bench-raw');
      const connection = await amqp.connect(url);
      const publisher = await connection.createConfirmChannel();
      const consumer = await connection.createChannel();
      const exchanges = [`${prefix}.publish`, `${prefix}.e2e`];
      const queues = exchanges.map((exchange) => `${exchange}.bench`);
      for (const [k, exchange] of exchanges.entries())
        await declareDestination(publisher, exchange, queues[k]!);
      const tally = new Tally();
      await consumer.prefetch(PREFETCH);
      await consumer.consume(
        queues[1]!,
        (msg) => {
          if (msg === null) return;
          tally.receive(JSON.parse(msg.content.toString('utf8')) as Payload);
          consumer.ack(msg);
        },
        { noAck: false },
      );
      const [publishExchange, e2eExchange] = exchanges as [string, string];
      return {
        publishOne: (i) => confirmed(publisher, publishExchange, [payload(i)]),
        publishBatch: (i, size) =>
          confirmed(publisher, publishExchange, payloads(i * BATCH_SIZE, size)),
        endToEnd: (count) =>
          endToEndRound(tally, count, (messages) => confirmed(publisher, e2eExchange, messages)),
        close: async () => {
          await consumer.close().catch(() => undefined);
          for (const queue of queues) await publisher.deleteQueue(queue);
          for (const exchange of exchanges) await publisher.deleteExchange(exchange);
          await connection.close();
        },
      };
    },
  };
}

interface CausewayRabbitMqModule {
  RabbitMqTransportDriver: {
    connect(options: { url?: string; prefix?: string }): Promise<
      TransportDriver & {
        topology(): { exchanges: string[]; queues: string[] };
      }
    >;
  };
}

/** A Causeway RabbitMQ driver on fresh names, and how to delete everything it declared. */
export interface OpenedRabbitMq {
  driver: TransportDriver;
  cleanup(): Promise<void>;
}

/** Loads `causeway/rabbitmq`; the result connects drivers, or says why it cannot. */
export async function loadCausewayRabbitMq(
  url: string,
): Promise<{ connect: () => Promise<OpenedRabbitMq> } | { reason: string }> {
  const adapter = await loadAdapter<CausewayRabbitMqModule>(
    'causeway/rabbitmq',
    'src/adapters/rabbitmq/index.ts',
    ['RabbitMqTransportDriver'],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  return {
    connect: async () => {
      const prefix = uniqueName('bench-cw');
      const driver = await adapter.module.RabbitMqTransportDriver.connect({ url, prefix });
      return {
        driver,
        // Everything the driver declared, deleted on a connection of our own.
        cleanup: async () => {
          const { exchanges, queues } = driver.topology();
          const connection = await amqp.connect(url);
          try {
            const channel = await connection.createChannel();
            for (const queue of queues) await channel.deleteQueue(queue);
            for (const exchange of exchanges) await channel.deleteExchange(exchange);
          } finally {
            await connection.close();
          }
        },
      };
    },
  };
}

export async function rabbitMqCauseway(url: string): Promise<TransportEntrant> {
  const loaded = await loadCausewayRabbitMq(url);
  if ('reason' in loaded) return loaded;
  return {
    label: 'causeway/rabbitmq',
    open: async () => {
      const { driver, cleanup } = await loaded.connect();
      return causewayContestant(driver, BENCH_NAMES, cleanup);
    },
  };
}
