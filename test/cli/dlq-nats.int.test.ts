import { randomBytes } from 'node:crypto';
import { NatsTransportDriver } from 'causeway/nats';
import { afterAll, describe, expect, it } from 'vitest';
import { brokerDlqCases } from './broker-dlq-cases.js';
import { runCli } from './run-cli.js';

const servers = process.env['CAUSEWAY_NATS_URL'] ?? 'nats://127.0.0.1:4222';
// One stream prefix per run: the CLI sees this run's dead letters and nobody else's.
const prefix = `cwcli${randomBytes(4).toString('hex')}`;

afterAll(async () => {
  const admin = await NatsTransportDriver.connect({ servers, prefix });
  try {
    await admin.deleteDestination('orders');
  } finally {
    await admin.close();
  }
});

brokerDlqCases({
  name: 'NATS JetStream',
  flags: ['--nats', servers, '--nats-prefix', prefix],
  async open() {
    const driver = await NatsTransportDriver.connect({ servers, prefix, pullExpiresMs: 1_000 });
    return { driver, store: driver.deadLetterStore };
  },
});

describe('causeway dlq --nats: where the dead letters are', () => {
  it('refuses --nats mixed with another place, a prefix without the URL, and a URL that is not NATS', async () => {
    const mixed = await runCli(['dlq', 'count', '--nats', servers, '--amqp', 'amqp://x']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--amqp and --nats name two different places');
    const withDb = await runCli(['dlq', 'count', '--nats', servers, '--db', 'x.db']);
    expect(withDb.code).toBe(2);
    expect(withDb.stderr).toContain('--nats and --db/--schema');
    const prefixOnly = await runCli(['dlq', 'count', '--nats-prefix', 'p']);
    expect(prefixOnly.code).toBe(2);
    expect(prefixOnly.stderr).toContain('--nats-prefix only applies with --nats');
    const bad = await runCli(['dlq', 'count', '--nats', 'http://user:secret@host:4222']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a NATS JetStream URL');
    expect(bad.stderr).not.toContain('secret');
  });

  it('reports a server that is not there as unreachable', async () => {
    const unreachable = await runCli(['dlq', 'count', '--nats', 'nats://127.0.0.1:1']);
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toContain('Cannot reach the store at nats://127.0.0.1:1');
  });
});
