import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import { createTransport, PermanentError, type Message } from 'causeway';
import { RabbitMqTransportDriver } from 'causeway/rabbitmq';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const SLOW = 60_000;
const url = process.env['CAUSEWAY_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
// One prefix per run: every name this file declares starts with it, so runs never collide.
const prefix = `cw-cli-${randomBytes(4).toString('hex')}`;
let driver: RabbitMqTransportDriver | undefined;

const lines = (text: string) => text.split('\n').filter((line) => line !== '');
const json = (text: string) =>
  lines(text).map((line) => JSON.parse(line) as Record<string, unknown>);

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

afterAll(async () => {
  if (!driver) return;
  const { exchanges, queues } = driver.topology();
  await driver.close();
  const connection = await connect(url);
  const channel = await connection.createChannel();
  for (const queue of queues) await channel.deleteQueue(queue);
  for (const exchange of exchanges) await channel.deleteExchange(exchange);
  await connection.close();
});

describe('causeway dlq --amqp (RabbitMQ)', () => {
  it(
    'lists, counts, shows, retries and purges the broker’s dead letters',
    { timeout: SLOW },
    async () => {
      driver = await RabbitMqTransportDriver.connect({ url, prefix });
      const transport = createTransport(driver);
      let refuse = true;
      const handled: { id: string; attempt: number }[] = [];
      await transport.subscribe('orders', 'billing', (m: Message, { attempt }) => {
        if (refuse) throw new PermanentError(`declined ${(m.data as { n: number }).n}`);
        handled.push({ id: m.id, attempt });
      });
      const ids = await transport.publish('orders', [
        { type: 'Charge', data: { n: 1 } },
        { type: 'Charge', data: { n: 2 } },
        { type: 'Charge', data: { n: 3 } },
      ]);
      await until(async () => (await driver!.deadLetterStore.count()) === 3);
      const amqp = ['--amqp', url, '--amqp-prefix', prefix];

      const listed = await runCli(['dlq', 'list', ...amqp, '--json']);
      expect(listed.stderr).toBe('');
      expect(listed.code).toBe(0);
      const letters = json(listed.stdout);
      expect(letters.map((l) => l['messageId']).sort()).toEqual([...ids].sort());
      expect(letters[0]).toMatchObject({ destination: 'orders', group: 'billing' });
      expect((await runCli(['dlq', 'count', ...amqp, '--destination', 'orders'])).stdout).toBe(
        '3\n',
      );
      const byError = await runCli(['dlq', 'list', ...amqp, '--error', 'declined 2', '--json']);
      expect(json(byError.stdout).map((l) => l['messageId'])).toEqual([ids[1]]);
      const id = String(letters[0]!['id']);
      const shown = await runCli(['dlq', 'show', id, ...amqp, '--json']);
      expect(json(shown.stdout)[0]).toMatchObject({ id, messageId: letters[0]!['messageId'] });
      const missing = await runCli(['dlq', 'show', 'no-such-letter', ...amqp]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('no dead letter with id no-such-letter');

      refuse = false;
      expect((await runCli(['dlq', 'retry', id, ...amqp])).stdout).toBe(`retried ${id}\n`);
      await until(async () => handled.length === 1);
      expect(handled).toEqual([{ id: letters[0]!['messageId'], attempt: 1 }]);

      const all = await runCli(['dlq', 'retry-all', ...amqp, '--json']);
      expect(all.code).toBe(0);
      expect(json(all.stdout)).toEqual([{ retried: 2 }]);
      expect(lines(all.stderr)).toEqual(['retried 1/2', 'retried 2/2']);
      await until(async () => handled.length === 3);
      expect(handled.map((h) => h.id).sort()).toEqual([...ids].sort());

      refuse = true;
      await transport.publish('orders', [{ type: 'Charge', data: { n: 4 } }]);
      await until(async () => (await driver!.deadLetterStore.count()) === 1);
      const purged = await runCli(['dlq', 'purge', ...amqp, '--destination', 'orders', '--json']);
      expect(json(purged.stdout)).toEqual([{ purged: 1 }]);
      expect((await runCli(['dlq', 'count', ...amqp])).stdout).toBe('0\n');
    },
  );
});
