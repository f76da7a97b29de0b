import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport, PermanentError, type Message } from 'causeway';
import { SqliteTransportDriver } from 'causeway/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, outputLines, runCli, until } from './run-cli.js';

// Every test starts a Node process (with tsx compiling the sources): give them room.
const SLOW = 30_000;

let dir: string;
let db: string;
/** Message ids by `n`, as published. */
let ids: string[];

const lines = outputLines;
const json = jsonLines;

/** Dead letters made the real way: a consumer of the SQLite transport that refuses them. */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'causeway-cli-dlq-'));
  db = join(dir, 'transport.db');
  const driver = new SqliteTransportDriver({ filename: db, pollIntervalMs: 20 });
  const transport = createTransport(driver);
  await transport.subscribe('orders', 'billing', (m: Message) => {
    throw new PermanentError(`card declined for order ${(m.data as { n: number }).n}`);
  });
  await transport.subscribe('emails', 'mailer', () => {
    throw new PermanentError('smtp down');
  });
  // One at a time, so the letters' order (and ids) is the publishing order.
  ids = [];
  for (const n of [1, 2, 3]) {
    ids.push(...(await transport.publish('orders', [{ type: 'Charge', data: { n } }])));
    await until(async () => (await driver.deadLetterStore.count()) === n);
  }
  await transport.publish('emails', [{ type: 'Welcome', data: {} }]);
  await until(async () => (await driver.deadLetterStore.count()) === 4);
  await transport.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('causeway dlq (SQLite transport file)', () => {
  it('list prints a table, oldest first', { timeout: SLOW }, async () => {
    const { code, stdout, stderr } = await runCli(['dlq', 'list', '--db', db]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const [header, ...rows] = lines(stdout);
    expect(header).toMatch(/^ID\s+DESTINATION\s+GROUP\s+MESSAGE ID\s+REASON\s+ATTEMPTS/);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toContain(ids[0]);
    expect(rows[0]).toContain('PermanentError: card declined for order 1');
    expect(rows[3]).toMatch(/emails\s+mailer/);
  });

  it('list --json with filters: destination, error text, since', { timeout: SLOW }, async () => {
    const all = await runCli(['dlq', 'list', '--db', db, '--destination', 'orders', '--json']);
    expect(all.code).toBe(0);
    const letters = json(all.stdout);
    expect(letters.map((l) => l['messageId'])).toEqual(ids);
    expect(letters[0]).toMatchObject({
      destination: 'orders',
      group: 'billing',
      failure: { reason: 'permanent_error', errorClass: 'PermanentError', attempts: 1 },
      message: { body: '{"n":1}' },
    });
    const byError = await runCli(['dlq', 'list', '--db', db, '--error', 'ORDER 2', '--json']);
    expect(json(byError.stdout).map((l) => l['messageId'])).toEqual([ids[1]]);
    const recent = await runCli(['dlq', 'list', '--db', db, '--since', '7d', '--json']);
    expect(json(recent.stdout)).toHaveLength(4);
    const future = await runCli(['dlq', 'list', '--db', db, '--since', '2999-01-01']);
    expect(future).toMatchObject({ code: 0, stdout: '', stderr: '(no dead letters)\n' });
    const limited = await runCli(['dlq', 'list', '--db', db, '--limit', '2', '--json']);
    expect(json(limited.stdout)).toHaveLength(2);
  });

  it('count, overall and per destination', { timeout: SLOW }, async () => {
    expect((await runCli(['dlq', 'count', '--db', db])).stdout).toBe('4\n');
    const orders = await runCli(['dlq', 'count', '--db', db, '--destination', 'orders', '--json']);
    expect(json(orders.stdout)).toEqual([{ count: 3 }]);
  });

  it('show prints one letter; an unknown id exits 1', { timeout: SLOW }, async () => {
    const [first] = json((await runCli(['dlq', 'list', '--db', db, '--json'])).stdout);
    const id = String(first!['id']);
    const shown = await runCli(['dlq', 'show', id, '--db', db]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`message id:     ${ids[0]}`);
    expect(shown.stdout).toContain('error:          PermanentError: card declined for order 1');
    expect(shown.stdout).toContain('  {"n":1}');
    const asJson = await runCli(['dlq', 'show', id, '--db', db, '--json']);
    expect(json(asJson.stdout)).toEqual([first]);

    const missing = await runCli(['dlq', 'show', '424242', '--db', db]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('error: no dead letter with id 424242');
    const retryMissing = await runCli(['dlq', 'retry', 'nope', '--db', db]);
    expect(retryMissing.code).toBe(1);
    expect(retryMissing.stderr).toContain('error: no dead letter with id nope');
  });

  it('bad durations and flags are usage errors (exit 2)', { timeout: SLOW }, async () => {
    const badSince = await runCli(['dlq', 'list', '--db', db, '--since', '7 days']);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toContain(
      "option '--since <age | ISO time>' argument '7 days' is invalid",
    );
    expect(badSince.stderr).toContain('Usage: causeway dlq list');
    const badAge = await runCli(['dlq', 'purge', '--db', db, '--older-than', '-3d']);
    expect(badAge.code).toBe(2);
    const both = await runCli(['dlq', 'count', '--db', db, '--amqp', 'amqp://localhost']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--amqp and --db/--schema');
    const unknown = await runCli(['dlq', 'list', '--db', db, '--frobnicate']);
    expect(unknown.code).toBe(2);
    expect((await runCli(['dlq', 'list', '--db', join(dir, 'missing.db')])).code).toBe(1);
  });

  it(
    'retry and retry-all send the letters back to their group with their ids; purge',
    { timeout: SLOW },
    async () => {
      const letters = json((await runCli(['dlq', 'list', '--db', db, '--json'])).stdout);
      const retried = await runCli(['dlq', 'retry', String(letters[0]!['id']), '--db', db]);
      expect(retried).toMatchObject({ code: 0, stdout: `retried ${letters[0]!['id']}\n` });

      const all = await runCli(['dlq', 'retry-all', '--destination', 'orders', '--db', db]);
      expect(all.code).toBe(0);
      expect(all.stdout).toBe('retried 2 dead letter(s)\n');
      expect(lines(all.stderr)).toEqual(['retried 1/2', 'retried 2/2']);
      expect((await runCli(['dlq', 'count', '--db', db])).stdout).toBe('1\n');

      // The handler is fixed: the billing group gets its three messages, first attempts.
      const driver = new SqliteTransportDriver({ filename: db, pollIntervalMs: 20 });
      const transport = createTransport(driver);
      const handled: { id: string; attempt: number }[] = [];
      try {
        await transport.subscribe('orders', 'billing', (m: Message, { attempt }) => {
          handled.push({ id: m.id, attempt });
        });
        await until(async () => handled.length === 3);
        expect(handled.map((h) => h.id).sort()).toEqual([...ids].sort());
        expect(handled.every((h) => h.attempt === 1)).toBe(true);
      } finally {
        await transport.close();
      }

      const kept = await runCli(['dlq', 'purge', '--older-than', '7d', '--db', db, '--json']);
      expect(json(kept.stdout)).toEqual([{ purged: 0 }]);
      const purged = await runCli(['dlq', 'purge', '--destination', 'emails', '--db', db]);
      expect(purged.stdout).toBe('purged 1 dead letter(s)\n');
      expect((await runCli(['dlq', 'count', '--db', db])).stdout).toBe('0\n');
    },
  );
});
