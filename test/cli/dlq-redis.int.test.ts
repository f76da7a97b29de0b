import { randomBytes } from 'node:crypto';
import { RedisTransportDriver } from 'causeway/redis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisTestOptions, redisUrl } from '../adapters/fixtures/redis-transport-harness.js';
import { brokerDlqCases } from './broker-dlq-cases.js';
import { runCli } from './run-cli.js';

// One key prefix per run: the CLI sees this run's dead letters and nobody else's.
const prefix = `cwcli${randomBytes(4).toString('hex')}`;

afterAll(async () => {
  const admin = await RedisTransportDriver.connect(redisTestOptions(prefix));
  try {
    await admin.deleteDestination('orders');
  } finally {
    await admin.close();
  }
});

brokerDlqCases({
  name: 'Redis',
  flags: ['--redis', redisUrl, '--redis-prefix', prefix],
  async open() {
    const driver = await RedisTransportDriver.connect(redisTestOptions(prefix));
    return { driver, store: driver.deadLetterStore };
  },
});

describe('causeway dlq --redis: where the dead letters are', () => {
  it('refuses --redis mixed with another place, a prefix without the URL, and a URL that is not Redis', async () => {
    const mixed = await runCli(['dlq', 'count', '--redis', redisUrl, '--kafka', 'h:9092']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--kafka and --redis name two different places');
    const withDb = await runCli(['dlq', 'count', '--redis', redisUrl, '--db', 'x.db']);
    expect(withDb.code).toBe(2);
    expect(withDb.stderr).toContain('--redis and --db/--schema');
    const prefixOnly = await runCli(['dlq', 'count', '--redis-prefix', 'p']);
    expect(prefixOnly.code).toBe(2);
    expect(prefixOnly.stderr).toContain('--redis-prefix only applies with --redis');
    const bad = await runCli(['dlq', 'count', '--redis', 'http://user:secret@host:6379']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a Redis URL');
    expect(bad.stderr).not.toContain('secret');
  });

  it('reports a server that is not there as unreachable, without its password', async () => {
    const unreachable = await runCli(['dlq', 'count', '--redis', 'redis://:secret@127.0.0.1:1']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('Cannot reach the store at redis://:***@127.0.0.1:1');
    expect(unreachable.stderr).not.toContain('secret');
  });
});
