import { randomBytes } from 'node:crypto';
import { PulsarTransportDriver } from 'causeway/pulsar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pulsarUrl } from '../adapters/fixtures/pulsar-transport-harness.js';
import { brokerDlqCases } from './broker-dlq-cases.js';
import { runCli } from './run-cli.js';

// One namespace per run: the CLI sees this run's dead letters and nobody else's.
const namespace = `cw-cli-${randomBytes(4).toString('hex')}`;
const namespaceUrl = `${pulsarUrl}/admin/v2/namespaces/public/${namespace}`;
const settings = { url: pulsarUrl, tenant: 'public', namespace };

beforeAll(async () => {
  const created = await fetch(namespaceUrl, { method: 'PUT' });
  expect(created.status).toBe(204);
});

afterAll(async () => {
  const admin = await PulsarTransportDriver.connect(settings);
  try {
    await admin.deleteDestination('orders');
  } finally {
    await admin.close();
  }
  // (Not `force`: standalone refuses forced namespace deletion; the topics are gone by now.)
  const deleted = await fetch(namespaceUrl, { method: 'DELETE' });
  expect(deleted.status).toBe(204);
});

brokerDlqCases({
  name: 'Pulsar',
  flags: ['--pulsar', pulsarUrl, '--pulsar-namespace', `public/${namespace}`],
  async open() {
    const driver = await PulsarTransportDriver.connect(settings);
    return { driver, store: driver.deadLetterStore };
  },
});

describe('causeway dlq --pulsar: where the dead letters are', () => {
  it('refuses --pulsar mixed with another place, a namespace without the URL, and a URL that is not the web service', async () => {
    const mixed = await runCli(['dlq', 'count', '--pulsar', pulsarUrl, '--nats', 'nats://x:4222']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--nats and --pulsar name two different places');
    const namespaceOnly = await runCli(['dlq', 'count', '--pulsar-namespace', 'public/x']);
    expect(namespaceOnly.code).toBe(2);
    expect(namespaceOnly.stderr).toContain('--pulsar-namespace only applies with --pulsar');
    const binary = await runCli(['dlq', 'count', '--pulsar', 'pulsar://127.0.0.1:6650']);
    expect(binary.code).toBe(2);
    expect(binary.stderr).toContain('is not a Pulsar URL');
  });

  it('reports a broker that is not there as unreachable', async () => {
    const unreachable = await runCli(['dlq', 'count', '--pulsar', 'http://127.0.0.1:1']);
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toContain('Cannot reach the store at http://127.0.0.1:1');
  });
});
