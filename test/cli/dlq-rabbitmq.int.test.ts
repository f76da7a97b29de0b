import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import { RabbitMqTransportDriver } from 'causeway/rabbitmq';
import { afterAll } from 'vitest';
import { brokerDlqCases } from './broker-dlq-cases.js';

const url = process.env['CAUSEWAY_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
// One prefix per run: every name this file declares starts with it, so runs never collide.
const prefix = `cw-cli-${randomBytes(4).toString('hex')}`;
let driver: RabbitMqTransportDriver | undefined;

afterAll(async () => {
  if (!driver) return;
  const { exchanges, queues } = driver.topology();
  const connection = await connect(url);
  const channel = await connection.createChannel();
  for (const queue of queues) await channel.deleteQueue(queue);
  for (const exchange of exchanges) await channel.deleteExchange(exchange);
  await connection.close();
});

brokerDlqCases({
  name: 'RabbitMQ',
  flags: ['--amqp', url, '--amqp-prefix', prefix],
  async open() {
    driver = await RabbitMqTransportDriver.connect({ url, prefix });
    return { driver, store: driver.deadLetterStore };
  },
});
