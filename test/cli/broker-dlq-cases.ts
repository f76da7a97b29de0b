/**
 * `causeway dlq` against a broker that keeps its own dead letters (RabbitMQ, NATS JetStream):
 * one scenario, run by each broker's file with its flags. Dead letters are made the real way,
 * by a consumer that refuses them; a second group shows that a retry reaches the failed
 * group only.
 */
import { createTransport, PermanentError, type DeadLetterStore, type Message } from 'causeway';
import type { TransportDriver } from 'causeway';
import { describe, expect, it } from 'vitest';
import { jsonLines, outputLines, runCli as runCliIn, until } from './run-cli.js';

export interface BrokerDlqSetup {
  /** e.g. `NATS JetStream`; also the flag's name in the test title. */
  name: string;
  /** The flags that point the CLI at this run's dead letters (URL and prefix). */
  flags: readonly string[];
  /** Environment for the CLI processes (SQS takes its credentials from there). */
  env?: Record<string, string>;
  /** A driver on the same broker and prefix, and its dead-letter store. */
  open(): Promise<{ driver: TransportDriver; store: DeadLetterStore }>;
}

export function brokerDlqCases(setup: BrokerDlqSetup): void {
  describe(`causeway dlq ${setup.flags[0]} (${setup.name})`, () => {
    it(
      'lists, counts, shows, retries (for the failed group only) and purges the broker’s dead letters',
      { timeout: 150_000 }, // a dozen CLI processes, each compiling the CLI with tsx
      async () => {
        const { driver, store } = await setup.open();
        const transport = createTransport(driver);
        try {
          const run = (args: readonly string[]) => runCliIn(args, { env: setup.env ?? {} });
          await scenario(setup.flags, run, transport, store);
        } finally {
          await transport.close();
        }
      },
    );
  });
}

async function scenario(
  flags: readonly string[],
  runCli: (args: readonly string[]) => ReturnType<typeof runCliIn>,
  transport: ReturnType<typeof createTransport>,
  store: DeadLetterStore,
): Promise<void> {
  let refuse = true;
  const billed: { id: string; attempt: number }[] = [];
  const shipped: string[] = [];
  await transport.subscribe('orders', 'billing', (m: Message, { attempt }) => {
    if (refuse) throw new PermanentError(`declined ${(m.data as { n: number }).n}`);
    billed.push({ id: m.id, attempt });
  });
  await transport.subscribe('orders', 'shipping', (m: Message) => void shipped.push(m.id));
  const ids = await transport.publish('orders', [
    { type: 'Charge', data: { n: 1 } },
    { type: 'Charge', data: { n: 2 } },
    { type: 'Charge', data: { n: 3 } },
  ]);
  await until(async () => (await store.count()) === 3);

  const listed = await runCli(['dlq', 'list', ...flags, '--json']);
  expect(listed.stderr).toBe('');
  expect(listed.code).toBe(0);
  const letters = jsonLines(listed.stdout);
  expect(letters.map((l) => l['messageId']).sort()).toEqual([...ids].sort());
  expect(letters[0]).toMatchObject({
    destination: 'orders',
    group: 'billing',
    failure: { reason: 'permanent_error', attempts: 1 },
  });
  const count = async (...more: string[]) =>
    (await runCli(['dlq', 'count', ...flags, ...more])).stdout;
  expect(await count('--destination', 'orders')).toBe('3\n');
  expect(await count('--destination', 'invoices')).toBe('0\n');
  const byError = await runCli(['dlq', 'list', ...flags, '--error', 'declined 2', '--json']);
  expect(jsonLines(byError.stdout).map((l) => l['messageId'])).toEqual([ids[1]]);
  const table = await runCli(['dlq', 'list', ...flags]);
  expect(outputLines(table.stdout)[0]).toMatch(/^\s*ID\s+DESTINATION\s+GROUP/);
  const id = String(letters[0]!['id']);
  const shown = await runCli(['dlq', 'show', id, ...flags]);
  expect(shown.stdout).toContain(`id:             ${id}`);
  expect(shown.stdout).toContain(`message id:     ${String(letters[0]!['messageId'])}`);
  const missing = await runCli(['dlq', 'show', 'no-such-letter', ...flags]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('no dead letter with id no-such-letter');

  refuse = false;
  expect((await runCli(['dlq', 'retry', id, ...flags])).stdout).toBe(`retried ${id}\n`);
  await until(async () => billed.length === 1);
  expect(billed).toEqual([{ id: letters[0]!['messageId'], attempt: 1 }]);
  expect((await runCli(['dlq', 'retry', id, ...flags])).code).toBe(1);

  const all = await runCli(['dlq', 'retry-all', ...flags, '--json']);
  expect(all.code).toBe(0);
  expect(jsonLines(all.stdout)).toEqual([{ retried: 2 }]);
  expect(outputLines(all.stderr)).toEqual(['retried 1/2', 'retried 2/2']);
  await until(async () => billed.length === 3);
  expect(billed.map((b) => b.id).sort()).toEqual([...ids].sort());

  refuse = true;
  const [fourth] = await transport.publish('orders', [{ type: 'Charge', data: { n: 4 } }]);
  await until(async () => (await store.count()) === 1);
  const purged = await runCli(['dlq', 'purge', ...flags, '--destination', 'orders', '--json']);
  expect(jsonLines(purged.stdout)).toEqual([{ purged: 1 }]);
  expect(await count()).toBe('0\n');
  // Shipping handled each message once: the retries were for billing only.
  await until(async () => shipped.length === 4);
  expect(shipped.sort()).toEqual([...ids, fourth].sort());
}
