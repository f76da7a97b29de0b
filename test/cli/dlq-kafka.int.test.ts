import { randomBytes } from 'node:crypto';
import { KafkaTransportDriver } from 'causeway/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { brokerDlqCases } from './broker-dlq-cases.js';
import { runCli } from './run-cli.js';

const brokers = process.env['CAUSEWAY_KAFKA_BROKERS'] ?? '127.0.0.1:9092';
// One topic prefix per run: the CLI sees this run's dead letters and nobody else's.
const prefix = `cw-cli-${randomBytes(4).toString('hex')}`;
// Frequent heartbeats and short fetch waits so the test's consumers join and stop quickly.
const settings = { brokers: brokers.split(','), prefix, heartbeatIntervalMs: 500, maxWaitMs: 500 };

afterAll(async () => {
  const admin = await KafkaTransportDriver.connect(settings);
  try {
    await admin.deleteDestination('orders');
  } finally {
    await admin.close();
  }
});

brokerDlqCases({
  name: 'Kafka',
  flags: ['--kafka', brokers, '--kafka-prefix', prefix],
  async open() {
    const driver = await KafkaTransportDriver.connect(settings);
    return { driver, store: driver.deadLetterStore };
  },
});

describe('causeway dlq --kafka: where the dead letters are', () => {
  it('refuses --kafka mixed with another place, a prefix without the brokers, and an address that is not host:port', async () => {
    const mixed = await runCli(['dlq', 'count', '--kafka', brokers, '--nats', 'nats://x:4222']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--nats and --kafka name two different places');
    const withDb = await runCli(['dlq', 'count', '--kafka', brokers, '--db', 'x.db']);
    expect(withDb.code).toBe(2);
    expect(withDb.stderr).toContain('--kafka and --db/--schema');
    const prefixOnly = await runCli(['dlq', 'count', '--kafka-prefix', 'p']);
    expect(prefixOnly.code).toBe(2);
    expect(prefixOnly.stderr).toContain('--kafka-prefix only applies with --kafka');
    const bad = await runCli(['dlq', 'count', '--kafka', 'http://user:secret@host:9092']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a Kafka URL');
    expect(bad.stderr).not.toContain('secret');
  });

  it('reports a cluster that is not there as unreachable', async () => {
    const unreachable = await runCli(['dlq', 'count', '--kafka', '127.0.0.1:1']);
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toContain('Cannot reach the store at 127.0.0.1:1');
  });
});
